// Package flow holds what every self-service flow (login, registration,
// recovery, settings) shares: the UI container with its nodes and messages,
// the message catalogue, CSRF protection, continue_with items, expiry,
// return_to validation, flow persistence and the one place that decides
// how a flow request is answered (native JSON, browser JSON, or redirects).
package flow

// Container is a flow's "ui": where the form posts and what it shows.
type Container struct {
	Action   string    `json:"action"`
	Method   string    `json:"method"`
	Nodes    []Node    `json:"nodes"`
	Messages []Message `json:"messages,omitempty"`
}

// ForAPI returns the container as the API shows it: nodes is an array,
// never null.
func (c Container) ForAPI() Container {
	if c.Nodes == nil {
		c.Nodes = []Node{}
	}
	return c
}

// Node groups.
const (
	GroupDefault  = "default"
	GroupPassword = "password"
	GroupProfile  = "profile"
	GroupCode     = "code"
	GroupLink     = "link"
)

// Node is one UI element: an input, an image (img) or a text.
type Node struct {
	Type       string     `json:"type"`
	Group      string     `json:"group"`
	Attributes Attributes `json:"attributes"`
	Messages   []Message  `json:"messages"`
	Meta       Meta       `json:"meta"`
}

// Attributes of an input node, in Kratos key order.
type Attributes struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	Value        any    `json:"value,omitempty"`
	Required     bool   `json:"required,omitempty"`
	Autocomplete string `json:"autocomplete,omitempty"`
	Label        string `json:"label,omitempty"`
	Pattern      string `json:"pattern,omitempty"`
	Disabled     bool   `json:"disabled"`
	MaxLength    int    `json:"maxlength,omitempty"`
	NodeType     string `json:"node_type"`

	// ID, Src, Width and Height are an img node's; ID and Text a text
	// node's (see MarshalJSON for the shape of each).
	ID     string   `json:"-"`
	Src    string   `json:"-"`
	Width  int      `json:"-"`
	Height int      `json:"-"`
	Text   *Message `json:"-"`
	// Href is an anchor (a) node's; its Text is the anchor's title.
	Href string `json:"-"`
}

// Meta carries the node's label.
type Meta struct {
	Label *Message `json:"label,omitempty"`
}

// Image builds an img node (the TOTP QR code: a data: URL) labelled label.
func Image(group, id, src string, width, height int, label *Message) Node {
	return Node{
		Type: "img", Group: group,
		Attributes: Attributes{ID: id, Src: src, Width: width, Height: height, NodeType: "img"},
		Messages:   []Message{}, Meta: Meta{Label: label},
	}
}

// Text builds a text node showing text (a secret key, backup codes).
func Text(group, id string, text Message, label *Message) Node {
	return Node{
		Type: "text", Group: group,
		Attributes: Attributes{ID: id, Text: &text, NodeType: "text"},
		Messages:   []Message{}, Meta: Meta{Label: label},
	}
}

// Anchor builds a link node (a) to href titled title.
func Anchor(group, id, href string, title Message) Node {
	return Node{
		Type: "a", Group: group,
		Attributes: Attributes{ID: id, Href: href, Text: &title, NodeType: "a"},
		Messages:   []Message{}, Meta: Meta{},
	}
}

// Input builds an input node; label may be nil.
func Input(group, name, typ string, label *Message) Node {
	return Node{
		Type:       "input",
		Group:      group,
		Attributes: Attributes{Name: name, Type: typ, NodeType: "input"},
		Messages:   []Message{},
		Meta:       Meta{Label: label},
	}
}

// WithValue sets the node's value.
func (n Node) WithValue(v any) Node { n.Attributes.Value = v; return n }

// Required marks the node required.
func (n Node) Required() Node { n.Attributes.Required = true; return n }

// WithAutocomplete sets the autocomplete hint.
func (n Node) WithAutocomplete(a string) Node { n.Attributes.Autocomplete = a; return n }

// WithPattern sets the input pattern.
func (n Node) WithPattern(p string) Node { n.Attributes.Pattern = p; return n }

// WithMaxLength sets the input's maximum length.
func (n Node) WithMaxLength(l int) Node { n.Attributes.MaxLength = l; return n }

// CSRFNode is the hidden csrf_token input every flow starts with. API flows
// carry an empty value.
func CSRFNode(token string) Node {
	return Input(GroupDefault, "csrf_token", "hidden", nil).WithValue(token).Required()
}

// SetCSRF replaces the value of the csrf_token node, if there is one.
func (c *Container) SetCSRF(token string) {
	for i := range c.Nodes {
		if c.Nodes[i].Attributes.Name == "csrf_token" {
			c.Nodes[i].Attributes.Value = token
		}
	}
}

// ResetMessages clears the flow's and every node's messages (a new
// submission starts clean).
func (c *Container) ResetMessages() {
	c.Messages = nil
	for i := range c.Nodes {
		c.Nodes[i].Messages = []Message{}
	}
}

// AddMessage appends a flow-level message.
func (c *Container) AddMessage(m Message) { c.Messages = append(c.Messages, m) }

// AddNodeMessage attaches a message to the first node with this name, or to
// the flow when no such node exists.
func (c *Container) AddNodeMessage(name string, m Message) {
	for i := range c.Nodes {
		if c.Nodes[i].Attributes.Name == name {
			c.Nodes[i].Messages = append(c.Nodes[i].Messages, m)
			return
		}
	}
	c.AddMessage(m)
}

// SetNodeValue sets the value of the first node with this name.
func (c *Container) SetNodeValue(name string, v any) {
	for i := range c.Nodes {
		if c.Nodes[i].Attributes.Name == name && c.Nodes[i].Attributes.Type != "submit" {
			c.Nodes[i].Attributes.Value = v
			return
		}
	}
}

// HasErrors reports whether any message of the flow or its nodes is an error.
func (c *Container) HasErrors() bool {
	for _, m := range c.Messages {
		if m.Type == MessageError {
			return true
		}
	}
	for _, n := range c.Nodes {
		for _, m := range n.Messages {
			if m.Type == MessageError {
				return true
			}
		}
	}
	return false
}
