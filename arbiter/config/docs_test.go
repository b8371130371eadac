package config

import (
	"os"
	"strings"
	"testing"
)

// TestDocsExample checks that the complete example in docs/config.md is a
// valid config. It is parsed as if it were in testdata/, where its app.root,
// "www", exists.
func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## Complete example")
	if !ok {
		t.Fatal(`docs/config.md has no "## Complete example" section`)
	}
	_, rest, ok = strings.Cut(rest, "```toml\n")
	if !ok {
		t.Fatal("the example section has no toml block")
	}
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("the toml block is not closed")
	}
	c, err := Parse("testdata/example.toml", []byte(example), Overrides{}, env())
	if err != nil {
		t.Fatalf("the documented example does not load:\n%v", err)
	}
	// Every top-level key and every table the schema knows is documented
	// in the example.
	var blank Config
	for key := range rootSchema(&blank) {
		if !strings.Contains(example, "\n"+key+" = ") && !strings.Contains(example, "["+key+"]") {
			t.Errorf("the example does not show %s", key)
		}
	}
	// Every key of every table has a row in the reference.
	for _, s := range []schema{rootSchema(&blank), logSchema(&blank.Log), listenSchema(&Listen{}), appSchema(&blank.App)} {
		for key := range s {
			if key != "log" && key != "listen" && key != "app" && key != "status" && key != "mount" && !strings.Contains(string(doc), "| `"+key+"` |") {
				t.Errorf("docs/config.md has no row for %s", key)
			}
		}
	}
	if !strings.Contains(string(doc), "## `[[mount]]`") {
		t.Error("docs/config.md has no [[mount]] section")
	}
	if len(c.Listen) != 2 || c.App.Type != AppStatic || len(c.Mounts) != 1 {
		t.Errorf("unexpected config from the example: %+v", c)
	}
}
