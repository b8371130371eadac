package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics, that it fails only with Errors
// whose every problem has a message and, when it is about the file, a
// position, and that a config it accepts passes
// validate on its own and survives the JSON trip to a worker unchanged.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.toml")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data, Overrides{}, env("PORT", "8080"))
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not a non-empty Errors: %#v", err)
			}
			if c != nil {
				t.Fatalf("got a Config with an error")
			}
			for _, p := range errs {
				if p.Msg == "" || p.File != "" && p.Line < 1 {
					t.Fatalf("problem without a message or a position: %#v", p)
				}
			}
			return
		}
		var problems collector
		validate(c, &problems)
		if len(problems) > 0 {
			t.Fatalf("accepted a config that does not validate: %v", problems)
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back Config
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&back, c) {
			t.Fatalf("JSON round trip changed the config:\n%+v\n%+v", c, &back)
		}
	})
}
