package config

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Problem is one thing wrong with a config.
//
// File, Line and Col say where it is (Line and Col are 1-based, Col counts
// bytes); they are empty for a problem that does not come from the file. Key
// is the dotted key path ("workers", "log.level", "listen[1].protocol", with
// array elements counted from 0), or the flag ("--bind") or environment
// variable ("WEB_CONCURRENCY") the bad value came from.
type Problem struct {
	File      string
	Line, Col int
	Key       string
	Msg       string
}

// String formats the problem as "app.toml:3:11: workers: must be at least 1",
// dropping the parts that are empty: "--bind: ..." for a flag,
// "app.toml: ..." for a file problem with no position.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
			if p.Col > 0 {
				fmt.Fprintf(&b, ":%d", p.Col)
			}
		}
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Errors is every problem Load found, in file order: problems with a
// position first, by line and column, then the others (environment
// variables, flags) in the order they were found.
type Errors []Problem

// Error joins the problems' Strings with newlines.
func (e Errors) Error() string {
	s := make([]string, len(e))
	for i, p := range e {
		s[i] = p.String()
	}
	return strings.Join(s, "\n")
}

// sortProblems puts problems in file order; the sort is stable, so problems
// at the same place keep the order they were found in.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if (a.Line > 0) != (b.Line > 0) {
			return a.Line > 0
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// ProblemAt is a problem with the value of key in the file c came from,
// found after loading (by a check that needs more than the file, such as
// importing a WSGI app): it carries the key's position when the file still
// has it, else just the file.
func (c *Config) ProblemAt(key, msg string) Problem {
	p := Problem{File: c.Path, Key: key, Msg: msg}
	if c.Path == "" {
		return p
	}
	if data, err := os.ReadFile(c.Path); err == nil {
		at := buildIndex(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))).valueAt(key)
		p.Line, p.Col = at.line, at.col
	}
	return p
}
