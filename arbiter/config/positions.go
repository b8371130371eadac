package config

import (
	"fmt"
	"sort"

	"github.com/pelletier/go-toml/v2/unstable"
)

// pos is a 1-based line and column (in bytes) in a config file. The zero
// pos means "not in the file".
type pos struct{ line, col int }

func (p pos) valid() bool { return p.line > 0 }

// index maps dotted key paths, as joinKey builds them ("listen[1].mode",
// "log.level", "app.index[0]"), to where they are written in the document.
// keys holds where each key (or table header) is written, vals where its
// value starts. Elements of arrays are indexed by position from 0; every
// [[array-of-tables]] header adds one element. Tables defined implicitly
// (the "a" of `a.b = 1` or of `[a.b]`) get the position of their first
// mention.
type index struct {
	keys map[string]pos
	vals map[string]pos

	data      []byte
	lineStart []int // byte offset at which each line begins
	arrays    map[string]int
}

// buildIndex runs the unstable go-toml parser over data. It is only called on
// documents that go-toml has already decoded, so a parse error cannot happen;
// should one happen anyway, the index holds what was seen before it, and
// positions after it fall back to their nearest indexed parent.
func buildIndex(data []byte) *index {
	ix := &index{
		keys:      map[string]pos{},
		vals:      map[string]pos{},
		data:      data,
		lineStart: []int{0},
		arrays:    map[string]int{},
	}
	for i, b := range data {
		if b == '\n' {
			ix.lineStart = append(ix.lineStart, i+1)
		}
	}

	var p unstable.Parser
	p.Reset(data)
	table := "" // path of the table that key/values belong to
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			table = ix.header(e, false)
		case unstable.ArrayTable:
			table = ix.header(e, true)
		case unstable.KeyValue:
			ix.keyValue(table, e)
		}
	}
	return ix
}

// offsetPos turns a byte offset into a line and column.
func (ix *index) offsetPos(off int) pos {
	line := sort.Search(len(ix.lineStart), func(i int) bool { return ix.lineStart[i] > off })
	return pos{line: line, col: off - ix.lineStart[line-1] + 1}
}

func (ix *index) rangePos(r unstable.Range) pos { return ix.offsetPos(int(r.Offset)) }

// header indexes a [table] or [[array.of.tables]] header and returns the
// concrete path (with element indexes) that the following key/values go to.
func (ix *index) header(e *unstable.Node, array bool) string {
	path := ""
	it := e.Key()
	for it.Next() {
		k := it.Node()
		path = joinKey(path, string(k.Data))
		at := ix.rangePos(k.Raw)
		last := it.IsLast()
		if last && array {
			n := ix.arrays[path]
			ix.arrays[path] = n + 1
			ix.setKey(path, at)
			path = fmt.Sprintf("%s[%d]", path, n)
			ix.keys[path] = at
			continue
		}
		if n, ok := ix.arrays[path]; ok && !last {
			path = fmt.Sprintf("%s[%d]", path, n-1)
		}
		ix.setKey(path, at)
	}
	return path
}

// keyValue indexes `a.b.c = value` written in table, and everything inside
// value.
func (ix *index) keyValue(table string, e *unstable.Node) {
	path := table
	var last *unstable.Node
	it := e.Key()
	for it.Next() {
		last = it.Node()
		path = joinKey(path, string(last.Data))
		ix.setKey(path, ix.rangePos(last.Raw))
	}
	v := e.Value()
	if v.Kind == unstable.Array && last != nil {
		// Array nodes carry no range: find the '[' after "key =".
		off := int(last.Raw.Offset + last.Raw.Length)
		for off < len(ix.data) && ix.data[off] != '[' {
			off++
		}
		if off < len(ix.data) {
			ix.vals[path] = ix.offsetPos(off)
		}
	}
	ix.value(path, v)
}

// value indexes a value node at path: its own position and, for arrays and
// inline tables, those of its elements.
func (ix *index) value(path string, v *unstable.Node) {
	switch v.Kind {
	case unstable.Array:
		i := 0
		it := v.Children()
		for it.Next() {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			ix.value(fmt.Sprintf("%s[%d]", path, i), c)
			i++
		}
	case unstable.InlineTable:
		ix.vals[path] = ix.rangePos(v.Raw)
		it := v.Children()
		for it.Next() {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				ix.keyValue(path, c)
			}
		}
	default:
		ix.vals[path] = ix.rangePos(v.Raw)
	}
}

func (ix *index) setKey(path string, at pos) {
	if _, ok := ix.keys[path]; !ok {
		ix.keys[path] = at
	}
}

// keyAt is where the key at path is written: the key itself, else its value
// (elements of arrays have no key), else the nearest parent that is in the
// file. The zero pos when nothing is.
func (ix *index) keyAt(path string) pos {
	for ; path != ""; path = parentKey(path) {
		if p, ok := ix.keys[path]; ok {
			return p
		}
		if p, ok := ix.vals[path]; ok {
			return p
		}
	}
	return pos{}
}

// valueAt is where the value at path starts, falling back like keyAt.
func (ix *index) valueAt(path string) pos {
	if p, ok := ix.vals[path]; ok {
		return p
	}
	return ix.keyAt(path)
}

// joinKey appends one key part to a dotted path, quoting the part when it is
// not a bare TOML key, so that `"a.b" = 1` and `a.b = 1` get different paths.
func joinKey(path, part string) string {
	if !isBareKey(part) {
		part = fmt.Sprintf("%q", part)
	}
	if path == "" {
		return part
	}
	return path + "." + part
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// parentKey strips the last part ("x.y" or "x[3]") off a path built by
// joinKey and fmt "%s[%d]", ignoring dots and brackets inside quoted parts.
func parentKey(path string) string {
	cut := 0
	inQuote := false
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == '.':
			cut = i
		case !inQuote && c == '[':
			cut = i
		}
	}
	return path[:cut]
}
