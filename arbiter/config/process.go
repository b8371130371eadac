package config

import (
	"fmt"
	"os"
	"os/user"
	"strings"
)

// umaskKey reads a umask written like a file mode (0o022 or "0022").
func umaskKey(dst *int) setter {
	return func(d *decoder, path string, v any) {
		var m uint32
		modeKey(&m)(d, path, v)
		*dst = int(m)
	}
}

// validateProcess checks user, group, umask, chdir and the status address.
func validateProcess(c *Config, r reporter) {
	if c.User != "" {
		if _, err := LookupUser(c.User); err != nil {
			r.problem("user", err.Error())
		}
	}
	if c.Group != "" {
		if _, err := LookupGroup(c.Group); err != nil {
			r.problem("group", err.Error())
		}
	}
	if c.Umask > 0o777 {
		r.problem("umask", fmt.Sprintf("must be at most 0o777, got 0o%o", c.Umask))
	}
	if c.Chdir != "" {
		absPath(r, "chdir", c.Chdir)
		if fi, err := os.Stat(c.Chdir); err != nil || !fi.IsDir() {
			r.problem("chdir", fmt.Sprintf("%q is not a directory", c.Chdir))
		}
	}
	if a := c.Status.Address; a != "" {
		if strings.HasPrefix(a, "fd://") || strings.HasPrefix(a, "systemd:") {
			r.problem("status.address", `want "host:port" or "unix:/path"`)
		} else if err := checkAddress(a); err != nil {
			r.problem("status.address", err.Error())
		}
	}
}

// LookupUser resolves a user name or numeric id.
func LookupUser(name string) (*user.User, error) {
	if u, err := user.Lookup(name); err == nil {
		return u, nil
	}
	if allDigits(name) {
		if u, err := user.LookupId(name); err == nil {
			return u, nil
		}
	}
	return nil, fmt.Errorf("no such user %q", name)
}

// LookupGroup resolves a group name or numeric id.
func LookupGroup(name string) (*user.Group, error) {
	if g, err := user.LookupGroup(name); err == nil {
		return g, nil
	}
	if allDigits(name) {
		if g, err := user.LookupGroupId(name); err == nil {
			return g, nil
		}
	}
	return nil, fmt.Errorf("no such group %q", name)
}
