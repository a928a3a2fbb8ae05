package flow

import "encoding/json"

// imageAttributes and textAttributes are the attributes of img and text
// nodes, in Kratos key order.
type imageAttributes struct {
	Src      string `json:"src"`
	ID       string `json:"id"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	NodeType string `json:"node_type"`
}

type textAttributes struct {
	Text     *Message `json:"text"`
	ID       string   `json:"id"`
	NodeType string   `json:"node_type"`
}

type anchorAttributes struct {
	Href     string   `json:"href"`
	Title    *Message `json:"title"`
	ID       string   `json:"id"`
	NodeType string   `json:"node_type"`
}

// inputAttributes has Attributes' fields and JSON tags without its
// methods, so marshalling it does not recurse.
type inputAttributes Attributes

// MarshalJSON writes the attributes in the shape of the node's type (by
// hand: see jsonwrite.go).
func (a Attributes) MarshalJSON() ([]byte, error) { return a.appendJSON(nil, nil) }

// UnmarshalJSON reads any of the shapes (stored flows are read back), in
// one pass: the keys of every shape are decoded together, then the node
// type picks what it keeps.
func (a *Attributes) UnmarshalJSON(b []byte) error {
	var v struct {
		inputAttributes
		Src    string   `json:"src"`
		ID     string   `json:"id"`
		Width  int      `json:"width"`
		Height int      `json:"height"`
		Text   *Message `json:"text"`
		Href   string   `json:"href"`
		Title  *Message `json:"title"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v.NodeType {
	case "img":
		*a = Attributes{Src: v.Src, ID: v.ID, Width: v.Width, Height: v.Height, NodeType: v.NodeType}
	case "text":
		*a = Attributes{Text: v.Text, ID: v.ID, NodeType: v.NodeType}
	case "a":
		*a = Attributes{Href: v.Href, Text: v.Title, ID: v.ID, NodeType: v.NodeType}
	default:
		*a = Attributes(v.inputAttributes)
	}
	return nil
}
