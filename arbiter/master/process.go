package master

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/arbiter/listeners"
)

// credentials resolves user and group to the credentials workers run with;
// nil when neither is set. Switching to another user needs root: the master
// itself keeps its rights (to bind on reload, to re-exec on USR2).
func credentials(cfg *config.Config) (*syscall.Credential, error) {
	if cfg.User == "" && cfg.Group == "" {
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	if cfg.User != "" {
		u, err := config.LookupUser(cfg.User)
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
		groups, err := u.GroupIds()
		if err == nil {
			for _, g := range groups {
				if n, err := strconv.Atoi(g); err == nil {
					cred.Groups = append(cred.Groups, uint32(n))
				}
			}
		}
	}
	if cfg.Group != "" {
		g, err := config.LookupGroup(cfg.Group)
		if err != nil {
			return nil, err
		}
		gid, _ := strconv.Atoi(g.Gid)
		cred.Gid = uint32(gid)
	}
	if os.Geteuid() != 0 && (int(cred.Uid) != os.Geteuid() || int(cred.Gid) != os.Getegid()) {
		return nil, fmt.Errorf("user %q / group %q: switching the workers' user needs the master to run as root", cfg.User, cfg.Group)
	}
	return cred, nil
}

// applyProcess sets the master's working directory and umask, which the
// workers inherit.
func applyProcess(cfg *config.Config) error {
	if cfg.Chdir != "" {
		if err := os.Chdir(cfg.Chdir); err != nil {
			return fmt.Errorf("chdir: %w", err)
		}
	}
	if cfg.Umask >= 0 {
		syscall.Umask(cfg.Umask)
	}
	return nil
}

// handOverFiles gives what the workers must write to their user: the unix
// socket files the master created, and the access log file (created here
// if missing).
func (m *Master) handOverFiles(ls []*listeners.Listener) error {
	if m.cred == nil {
		return nil
	}
	uid, gid := int(m.cred.Uid), int(m.cred.Gid)
	for _, l := range ls {
		if err := l.Chown(uid, gid); err != nil {
			return err
		}
	}
	if p := m.cfg.Log.AccessLog; p != "" && p != "-" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("access log: %w", err)
		}
		defer f.Close()
		if err := f.Chown(uid, gid); err != nil {
			return fmt.Errorf("access log: %w", err)
		}
	}
	return nil
}
