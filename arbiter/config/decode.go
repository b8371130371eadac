package config

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// decoder walks a decoded TOML document against a schema and stores what it
// finds in a Config. Every unknown key and every value of the wrong type or
// form becomes a problem; decoding goes on after a problem so that all of
// them are reported at once. Range checks are validate's job, on the
// finished Config.
type decoder struct {
	file     string // name used in problems
	ix       *index
	problems []Problem
	bad      map[string]bool // paths that already have a problem
}

// setter decodes the value v found at path into the Config, or reports why
// it cannot.
type setter func(d *decoder, path string, v any)

// schema is the set of keys a table accepts.
type schema map[string]setter

func rootSchema(c *Config) schema {
	return schema{
		"workers":                    intKey(&c.Workers),
		"timeout":                    durationKey(&c.Timeout),
		"graceful_timeout":           durationKey(&c.GracefulTimeout),
		"pidfile":                    stringKey(&c.Pidfile),
		"max_requests":               intKey(&c.MaxRequests),
		"max_requests_jitter":        intKey(&c.MaxRequestsJitter),
		"max_worker_lifetime":        durationKey(&c.MaxWorkerLifetime),
		"max_worker_lifetime_jitter": durationKey(&c.MaxWorkerLifetimeJitter),
		"max_worker_memory":          sizeKey(&c.MaxWorkerMemory),
		"max_boot_failures":          intKey(&c.MaxBootFailures),
		"reload_strategy":            stringKey(&c.ReloadStrategy),
		"reload_batch":               intKey(&c.ReloadBatch),
		"upgrade_timeout":            durationKey(&c.UpgradeTimeout),
		"workers_min":                intKey(&c.WorkersMin),
		"workers_max":                intKey(&c.WorkersMax),
		"scale_down_after":           durationKey(&c.ScaleDownAfter),
		"control_socket":             stringKey(&c.ControlSocket),
		"backlog":                    intKey(&c.Backlog),
		"keepalive":                  durationKey(&c.Keepalive),
		"worker_connections":         intKey(&c.WorkerConnections),
		"read_header_timeout":        durationKey(&c.ReadHeaderTimeout),
		"read_timeout":               durationKey(&c.ReadTimeout),
		"write_timeout":              durationKey(&c.WriteTimeout),
		"request_timeout":            flagSet(durationKey(&c.RequestTimeout), &c.requestTimeoutSet),
		"slow_request_log":           durationKey(&c.SlowRequestLog),
		"forwarded_allow_ips":        addressListKey(&c.ForwardedAllowIPs),
		"limit_request_line":         intKey(&c.LimitRequestLine),
		"limit_request_fields":       intKey(&c.LimitRequestFields),
		"limit_request_field_size":   intKey(&c.LimitRequestFieldSize),
		"log":                        tableKey(logSchema(&c.Log)),
		"listen":                     listenKey(&c.Listen),
		"app":                        tableKey(appSchema(&c.App)),
		"user":                       stringKey(&c.User),
		"group":                      stringKey(&c.Group),
		"umask":                      umaskKey(&c.Umask),
		"chdir":                      stringKey(&c.Chdir),
		"status":                     tableKey(schema{"address": stringKey(&c.Status.Address)}),
		"mount":                      mountKey(&c.Mounts, c.App),
	}
}

func logSchema(l *Log) schema {
	return schema{
		"level":             stringKey(&l.Level),
		"format":            stringKey(&l.Format),
		"file":              stringKey(&l.File),
		"access_log":        stringKey(&l.AccessLog),
		"access_log_format": stringKey(&l.AccessLogFormat),
	}
}

func listenSchema(l *Listen) schema {
	return schema{
		"address":         stringKey(&l.Address),
		"protocol":        stringKey(&l.Protocol),
		"mode":            modeKey(&l.Mode),
		"name":            stringKey(&l.Name),
		"tls_cert":        stringKey(&l.TLS.Cert),
		"tls_key":         stringKey(&l.TLS.Key),
		"tls_client_ca":   stringKey(&l.TLS.ClientCA),
		"tls_client_auth": stringKey(&l.TLS.ClientAuth),
		"h2c":             boolKey(&l.H2C),
		"proxy_protocol":  boolKey(&l.ProxyProtocol),
	}
}

func appSchema(a *App) schema {
	s := schema{
		"type":               stringKey(&a.Type),
		"root":               stringKey(&a.Root),
		"index":              stringsKey(&a.Index),
		"script":             stringKey(&a.Script),
		"prefix":             stringKey(&a.Prefix),
		"interpreters":       stringMapKey(&a.Interpreters),
		"extensions":         stringsKey(&a.Extensions),
		"workdir":            stringKey(&a.Workdir),
		"pass_env":           stringsKey(&a.PassEnv),
		"pass_authorization": boolKey(&a.PassAuthorization),
		"script_timeout":     flagSet(durationKey(&a.ScriptTimeout), &a.scriptTimeoutSet),
		"request_timeout":    flagSet(durationKey(&a.RequestTimeout), &a.requestTimeoutSet),
		"max_scripts":        intKey(&a.MaxScripts),
		"max_scripts_wait":   durationKey(&a.MaxScriptsWait),
	}
	wsgiSchema(s, a)
	return s
}

// walk decodes table m, found at path, against s. Keys are visited in sorted
// order so that problems at the same place come out in a stable order.
func (d *decoder) walk(path string, m map[string]any, s schema) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := joinKey(path, k)
		set, ok := s[k]
		if !ok {
			d.keyProblem(p, unknownKey(k, s))
			continue
		}
		set(d, p, m[k])
	}
}

// keyProblem reports a problem located at the key (an unknown key).
func (d *decoder) keyProblem(path, msg string) {
	d.bad[path] = true
	at := d.ix.keyAt(path)
	d.problems = append(d.problems, Problem{File: d.file, Line: at.line, Col: at.col, Key: path, Msg: msg})
}

// valueProblem reports a problem located at the value of path.
func (d *decoder) valueProblem(path, msg string) {
	d.bad[path] = true
	at := d.ix.valueAt(path)
	d.problems = append(d.problems, Problem{File: d.file, Line: at.line, Col: at.col, Key: path, Msg: msg})
}

func intKey(dst *int) setter {
	return func(d *decoder, path string, v any) {
		n, ok := v.(int64)
		if !ok {
			d.valueProblem(path, "must be an integer, got "+describe(v))
			return
		}
		if n < math.MinInt || n > math.MaxInt {
			d.valueProblem(path, "integer out of range")
			return
		}
		*dst = int(n)
	}
}

func durationKey(dst *time.Duration) setter {
	return func(d *decoder, path string, v any) {
		s, ok := v.(string)
		if !ok {
			d.valueProblem(path, `must be a duration string like "30s", got `+describe(v))
			return
		}
		t, err := time.ParseDuration(s)
		if err != nil {
			d.valueProblem(path, fmt.Sprintf(`invalid duration %q: want a number with a unit, like "30s", "1m30s" or "500ms"`, s))
			return
		}
		*dst = t
	}
}

func stringKey(dst *string) setter {
	return func(d *decoder, path string, v any) {
		s, ok := v.(string)
		if !ok {
			d.valueProblem(path, "must be a string, got "+describe(v))
			return
		}
		*dst = s
	}
}

// addressListKey decodes an array of strings, or one string of
// comma-separated entries as gunicorn writes forwarded_allow_ips
// ("127.0.0.1,10.0.0.1", "*").
func addressListKey(dst *[]string) setter {
	list := stringsKey(dst)
	return func(d *decoder, path string, v any) {
		s, ok := v.(string)
		if !ok {
			list(d, path, v)
			return
		}
		*dst = []string{}
		for e := range strings.SplitSeq(s, ",") {
			if e = strings.TrimSpace(e); e != "" {
				*dst = append(*dst, e)
			}
		}
	}
}

func stringsKey(dst *[]string) setter {
	return func(d *decoder, path string, v any) {
		a, ok := v.([]any)
		if !ok {
			d.valueProblem(path, "must be an array of strings, got "+describe(v))
			return
		}
		out := make([]string, 0, len(a))
		good := true
		for i, e := range a {
			s, ok := e.(string)
			if !ok {
				d.valueProblem(fmt.Sprintf("%s[%d]", path, i), "must be a string, got "+describe(e))
				good = false
				continue
			}
			out = append(out, s)
		}
		if good {
			*dst = out
		}
	}
}

// modeKey accepts a file mode as a TOML integer (0o660) or as a string of
// octal digits ("0660", "660" or "0o660").
func modeKey(dst *uint32) setter {
	return func(d *decoder, path string, v any) {
		const want = `must be a file mode like 0o660 or "0660"`
		switch m := v.(type) {
		case int64:
			if m < 0 || m > math.MaxUint32 {
				d.valueProblem(path, fmt.Sprintf("%s, got %d", want, m))
				return
			}
			*dst = uint32(m)
		case string:
			s := strings.TrimPrefix(strings.TrimPrefix(m, "0o"), "0O")
			n, err := strconv.ParseUint(s, 8, 32)
			if err != nil {
				d.valueProblem(path, fmt.Sprintf("%s, got %q", want, m))
				return
			}
			*dst = uint32(n)
		default:
			d.valueProblem(path, want+", got "+describe(v))
		}
	}
}

func tableKey(s schema) setter {
	return func(d *decoder, path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			d.valueProblem(path, fmt.Sprintf("must be a table ([%s]), got %s", path, describe(v)))
			return
		}
		d.walk(path, m, s)
	}
}

// listenKey decodes [[listen]] (or listen = [{...}, ...]). A listener with a
// problem is still appended, so that listeners after it keep the index they
// have in the file.
func listenKey(dst *[]Listen) setter {
	return func(d *decoder, path string, v any) {
		a, ok := v.([]any)
		if !ok {
			msg := "must be an array of tables, got " + describe(v)
			if _, isTable := v.(map[string]any); isTable {
				msg = "must be an array of tables: write [[listen]], not [listen]"
			}
			d.valueProblem(path, msg)
			return
		}
		out := make([]Listen, len(a))
		for i, e := range a {
			p := fmt.Sprintf("%s[%d]", path, i)
			out[i].Protocol = ProtoHTTP
			m, ok := e.(map[string]any)
			if !ok {
				d.valueProblem(p, "must be a table, got "+describe(e))
				continue
			}
			d.walk(p, m, listenSchema(&out[i]))
		}
		*dst = out
	}
}

// describe names the TOML type of a decoded value, with the value when it is
// short, for "got ..." in messages.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		return fmt.Sprintf("string %q", v)
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("float %v", v)
	case bool:
		return fmt.Sprintf("boolean %t", v)
	case []any:
		return "array"
	case map[string]any:
		return "table"
	case time.Time, toml.LocalDateTime:
		return "date-time"
	case toml.LocalDate:
		return "date"
	case toml.LocalTime:
		return "time"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// unknownKey is the message for key k, which s does not have. It suggests
// the closest known key: one within two edits (and fewer than half of k's
// length), or else one that starts with k ("proto" for "protocol").
func unknownKey(k string, s schema) string {
	if len(k) > 64 {
		return "unknown key"
	}
	lk := strings.ToLower(k)
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name)
	}
	sort.Strings(names)
	best, bestDist := "", 3
	for _, name := range names {
		if dist := editDistance(lk, name); dist < bestDist && 2*dist < len(k) {
			best, bestDist = name, dist
		}
	}
	if best == "" && len(k) >= 3 {
		for _, name := range names {
			if strings.HasPrefix(name, lk) {
				best = name
				break
			}
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown key; did you mean %q?", best)
	}
	return "unknown key"
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// syntaxProblem turns a go-toml decoding error into the single problem
// reported for a document that is not valid TOML.
func syntaxProblem(file string, err error) Problem {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		key := ""
		for _, k := range de.Key() {
			key = joinKey(key, k)
		}
		return Problem{File: file, Line: line, Col: col, Key: key, Msg: strings.TrimPrefix(de.Error(), "toml: ")}
	}
	return Problem{File: file, Msg: err.Error()}
}
