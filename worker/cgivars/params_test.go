package cgivars

import "testing"

func TestAddParam(t *testing.T) {
	env := map[string]string{}
	for _, kv := range [][2]string{
		{"HTTP_X_FORWARDED_FOR", "192.0.2.1"}, {"HTTP_X_FORWARDED_FOR", "192.0.2.2"},
		{"HTTP_COOKIE", "a=1"}, {"HTTP_COOKIE", "b=2"},
		{"HTTP_HOST", "a.example"}, {"HTTP_HOST", "b.example"},
		{"SCRIPT_NAME", "/a"}, {"SCRIPT_NAME", "/b"},
	} {
		AddParam(env, kv[0], kv[1])
	}
	want := map[string]string{
		"HTTP_X_FORWARDED_FOR": "192.0.2.1, 192.0.2.2", "HTTP_COOKIE": "a=1; b=2",
		"HTTP_HOST": "b.example", "SCRIPT_NAME": "/b",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
}
