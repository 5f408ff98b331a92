package sam

import (
	"fmt"
	"strings"
)

// Error is a template problem that stops compilation. It prints as one line:
// "template.yaml:12: resource HelloFunction: <what is wrong and what to change>".
type Error struct {
	// File is the template's display name (as the user named it).
	File string
	// Line is the 1-based line in File, 0 when unknown.
	Line int
	// Resource is the logical id of the resource concerned, if any.
	Resource string
	// Msg says what is wrong and what to change.
	Msg string
}

// Error renders the error as one line.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Resource != "" {
		b.WriteString("resource ")
		b.WriteString(e.Resource)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	// Template text quoted in a message must not break the one-line form.
	return oneLine.Replace(b.String())
}

var oneLine = strings.NewReplacer("\r\n", `\n`, "\n", `\n`, "\r", `\r`)

// Warning is a template feature esb accepts but does not act on, or a likely
// mistake that does not stop compilation. It prints like an Error.
type Warning struct {
	File     string
	Line     int
	Resource string
	Msg      string
}

// String renders the warning as one line, like an Error.
func (w Warning) String() string {
	return (&Error{File: w.File, Line: w.Line, Resource: w.Resource, Msg: w.Msg}).Error()
}
