package config

import "testing"

func TestIndex(t *testing.T) {
	doc := `top = 1
a.b.c = "x"
"q.k" = 2
[t]
  k = [ # comment
    1,
    { x = 1 },
  ]
[[arr]]
n = 1
[[arr]]
n = { m = 2 }
[[arr.sub]]
z = true
[[arr]]
[[arr.sub]]
[arr.sub.deep]
w = 1
`
	ix := buildIndex([]byte(doc))
	keys := []struct {
		path string
		want pos
	}{
		{"top", pos{1, 1}},
		{"a", pos{2, 1}},
		{"a.b", pos{2, 3}},
		{"a.b.c", pos{2, 5}},
		{`"q.k"`, pos{3, 1}},
		{"t", pos{4, 2}},
		{"t.k", pos{5, 3}},
		{"t.k[1].x", pos{7, 7}},
		{"arr", pos{9, 3}},
		{"arr[0]", pos{9, 3}},
		{"arr[0].n", pos{10, 1}},
		{"arr[1]", pos{11, 3}},
		{"arr[1].n.m", pos{12, 7}},
		{"arr[1].sub[0]", pos{13, 7}},
		{"arr[1].sub[0].z", pos{14, 1}},
		{"arr[2]", pos{15, 3}},
		{"arr[2].sub[0]", pos{16, 7}},
		{"arr[2].sub[0].deep", pos{17, 10}},
		{"arr[2].sub[0].deep.w", pos{18, 1}},
		// Not in the file: the nearest parent that is.
		{"arr[2].sub[0].deep.missing", pos{17, 10}},
		{"nothing", pos{}},
	}
	for _, tt := range keys {
		if got := ix.keyAt(tt.path); got != tt.want {
			t.Errorf("keyAt(%s) = %v, want %v", tt.path, got, tt.want)
		}
	}
	vals := []struct {
		path string
		want pos
	}{
		{"top", pos{1, 7}},
		{"a.b.c", pos{2, 9}},
		{"t.k", pos{5, 7}},
		{"t.k[0]", pos{6, 5}},
		{"t.k[1]", pos{7, 5}},
		{"t.k[1].x", pos{7, 11}},
		{"arr[1].n", pos{12, 5}},
		{"arr[1].n.m", pos{12, 11}},
		{"arr[1]", pos{11, 3}}, // a header has no value: its key
	}
	for _, tt := range vals {
		if got := ix.valueAt(tt.path); got != tt.want {
			t.Errorf("valueAt(%s) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestParentKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a", ""},
		{"a.b", "a"},
		{"listen[1]", "listen"},
		{"listen[1].mode", "listen[1]"},
		{`a."b.c"`, "a"},
		{`"x[1]"`, ""},
		{`a."q\"."`, "a"},
	}
	for _, tt := range tests {
		if got := parentKey(tt.in); got != tt.want {
			t.Errorf("parentKey(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestJoinKey(t *testing.T) {
	tests := []struct{ path, part, want string }{
		{"", "workers", "workers"},
		{"log", "level", "log.level"},
		{"", "a.b", `"a.b"`},
		{"t", "", `t.""`},
		{"t", "é", `t."é"`},
	}
	for _, tt := range tests {
		if got := joinKey(tt.path, tt.part); got != tt.want {
			t.Errorf("joinKey(%q, %q) = %s, want %s", tt.path, tt.part, got, tt.want)
		}
	}
}
