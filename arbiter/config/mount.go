package config

import (
	"fmt"
	"path"
	"strings"
)

// mountKey decodes [[mount]] tables. Each starts from a copy of base (the
// [app] defaults) so that unset keys have the same defaults as in [app].
func mountKey(dst *[]Mount, base App) setter {
	return func(d *decoder, p string, v any) {
		a, ok := v.([]any)
		if !ok {
			msg := "must be an array of tables, got " + describe(v)
			if _, isTable := v.(map[string]any); isTable {
				msg = "must be an array of tables: write [[mount]], not [mount]"
			}
			d.valueProblem(p, msg)
			return
		}
		out := make([]Mount, len(a))
		for i, e := range a {
			key := fmt.Sprintf("%s[%d]", p, i)
			out[i].App = base
			out[i].App.Index = append([]string(nil), base.Index...)
			out[i].App.PassEnv = append([]string(nil), base.PassEnv...)
			m, ok := e.(map[string]any)
			if !ok {
				d.valueProblem(key, "must be a table, got "+describe(e))
				continue
			}
			s := appSchema(&out[i].App)
			s["path"] = stringKey(&out[i].Path)
			d.walk(key, m, s)
		}
		*dst = out
	}
}

// validateMounts checks each [[mount]]: a path like "/cgi-bin" (absolute,
// clean, not "/", no trailing slash, each used once) and its app keys.
func validateMounts(ms []Mount, r reporter) {
	seen := map[string]string{}
	for i := range ms {
		key := fmt.Sprintf("mount[%d]", i)
		p := ms[i].Path
		switch {
		case p == "":
			r.problem(key+".path", `required, like path = "/cgi-bin"`)
		case !strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "/" || strings.ContainsAny(p, "?#"):
			r.problem(key+".path", fmt.Sprintf(`must be a clean absolute URL path other than "/", like "/cgi-bin", got %q (the rest of the site is [app])`, p))
		case seen[p] != "":
			r.problem(key+".path", fmt.Sprintf("%q is already mounted by %s", p, r.where(seen[p])))
		default:
			seen[p] = key + ".path"
		}
		validateApp(&ms[i].App, key, r)
	}
}
