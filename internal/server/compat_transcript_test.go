package server_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// transcript is one recorded Kratos v26.2.0 journey, read from the markdown
// in testdata/kratos-v26.2.0 (a copy of the spec's transcripts/): numbered
// steps, each a request and the response Kratos gave, with the mails the
// SMTP sink received and the recorder's notes in between.
type transcript struct {
	title string
	steps []*step
}

// step is one "## N. Title" section.
type step struct {
	num   int
	title string
	// wait is how long the recorder waited before the step ("Waiting 11s…").
	wait time.Duration
	req  recordedRequest
	res  recordedResponse
	// after are the events recorded after the response: mails, jar changes.
	after []*event
}

// recordedRequest is the ```http block: "GET PUB/path" (or ADM), headers, body.
type recordedRequest struct {
	method, target string
	header         []headerLine
	body           string
}

// recordedResponse is "**→ 200**", the header block and the body.
type recordedResponse struct {
	status int
	header []headerLine
	// bodyKind is "json", "text" or "empty".
	bodyKind string
	body     string

	// What the parser has read so far.
	headerRead, bodyRead bool
}

type headerLine struct{ name, value string }

// event kinds recorded between steps.
const (
	eventMail       = "mail"        // a mail arrived for to
	eventNoMail     = "no mail"     // no mail arrived for to
	eventFreshJar   = "fresh jar"   // a new section: the recorder started a new cookie jar
	eventRestoreJar = "restore jar" // the recorder undid the cookies of failed CSRF checks
)

type event struct {
	kind string
	to   string
	mail recordedMail
}

// recordedMail is the sink's view of a mail: headers, text part, HTML part.
type recordedMail struct {
	header     []headerLine
	text, html string
}

var (
	stepHeading   = regexp.MustCompile(`^## (\d+)\. (.*?)\s*$`)
	statusLine    = regexp.MustCompile(`^\*\*→ (\d{3})\*\*`)
	mailHeading   = regexp.MustCompile("^### Email received by SMTP sink for `([^`]+)`")
	noMailHeading = regexp.MustCompile("^### Email sink: no message for `([^`]+)`")
	waitingLine   = regexp.MustCompile(`^Waiting (\d+)s`)
)

// readTranscript parses a transcript file.
func readTranscript(t *testing.T, path string) *transcript {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n")
	tr := &transcript{}
	var cur *step
	var mail *event // the mail section being read
	var wait time.Duration
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		switch {
		case strings.HasPrefix(line, "# "):
			tr.title = strings.TrimPrefix(line, "# ")
		case stepHeading.MatchString(line):
			m := stepHeading.FindStringSubmatch(line)
			n, _ := strconv.Atoi(m[1])
			cur, mail = &step{num: n, title: m[2], wait: wait}, nil
			wait = 0
			tr.steps = append(tr.steps, cur)
		case strings.HasPrefix(line, "### "):
			mail = nil
			var ev *event
			switch {
			case mailHeading.MatchString(line):
				ev = &event{kind: eventMail, to: mailHeading.FindStringSubmatch(line)[1]}
				mail = ev
			case noMailHeading.MatchString(line):
				ev = &event{kind: eventNoMail, to: noMailHeading.FindStringSubmatch(line)[1]}
			default:
				// A new section of the journey: the recorder started a new
				// cookie jar (some headings say so: "fresh cookie jar").
				ev = &event{kind: eventFreshJar}
			}
			if ev != nil && cur != nil {
				cur.after = append(cur.after, ev)
			}
		case strings.HasPrefix(line, "(cookie jar restored"):
			cur.after = append(cur.after, &event{kind: eventRestoreJar})
		case waitingLine.MatchString(line):
			s, _ := strconv.Atoi(waitingLine.FindStringSubmatch(line)[1])
			wait += time.Duration(s) * time.Second
		case statusLine.MatchString(line):
			cur.res.status, _ = strconv.Atoi(statusLine.FindStringSubmatch(line)[1])
		case line == "_(empty body)_" && cur != nil && cur.res.status != 0 && !cur.res.bodyRead:
			cur.res.bodyKind, cur.res.bodyRead = "empty", true
		case strings.HasPrefix(line, "```"):
			lang := strings.TrimPrefix(line, "```")
			var block []string
			for i++; i < len(lines) && lines[i] != "```"; i++ {
				block = append(block, lines[i])
			}
			text := strings.Join(block, "\n")
			switch {
			case cur == nil:
			case lang == "http":
				cur.req = parseRequest(block)
			case mail != nil && lang == "":
				mail.mail.header, mail.mail.text = splitHeader(block)
			case mail != nil && lang == "html":
				mail.mail.html = text
			case cur.res.status != 0 && !cur.res.headerRead:
				cur.res.header, _ = splitHeader(block)
				cur.res.headerRead = true
			case cur.res.status != 0 && !cur.res.bodyRead:
				cur.res.body, cur.res.bodyRead = text, true
				cur.res.bodyKind = "text"
				if lang == "json" {
					cur.res.bodyKind = "json"
				}
			}
		}
	}
	if len(tr.steps) == 0 {
		t.Fatalf("%s: no steps", path)
	}
	for _, st := range tr.steps {
		if st.req.method == "" || st.res.status == 0 || !st.res.headerRead || !st.res.bodyRead {
			t.Fatalf("%s: step %d %q lacks its request, status, headers or body", path, st.num, st.title)
		}
		for _, ev := range st.after {
			if ev.kind == eventMail && len(ev.mail.header) == 0 {
				t.Fatalf("%s: step %d: the mail to %s has no headers", path, st.num, ev.to)
			}
		}
	}
	return tr
}

// parseRequest reads "METHOD TARGET", the header lines and the body.
func parseRequest(block []string) recordedRequest {
	method, target, _ := strings.Cut(block[0], " ")
	header, body := splitHeader(block[1:])
	return recordedRequest{method: method, target: target, header: header, body: strings.TrimRight(body, "\n")}
}

// splitHeader reads "Name: value" lines up to the first empty line; the
// rest is the body.
func splitHeader(block []string) ([]headerLine, string) {
	var h []headerLine
	for i, l := range block {
		if l == "" {
			return h, strings.Join(block[i+1:], "\n")
		}
		name, value, _ := strings.Cut(l, ":")
		h = append(h, headerLine{name: strings.TrimSpace(name), value: strings.TrimSpace(value)})
	}
	return h, ""
}

// get returns the first header with name (case-insensitive).
func get(h []headerLine, name string) (string, bool) {
	for _, l := range h {
		if strings.EqualFold(l.name, name) {
			return l.value, true
		}
	}
	return "", false
}
