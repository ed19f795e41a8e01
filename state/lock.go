package state

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Holder is who holds a lock, as the exclusive holder records it in the lock
// file.
type Holder struct {
	Pid       int       `json:"pid"`
	Host      string    `json:"host"`
	Since     time.Time `json:"since"`
	Operation string    `json:"operation"`
}

func currentHolder(op string) Holder {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown host"
	}
	return Holder{Pid: os.Getpid(), Host: host, Since: time.Now().UTC(), Operation: op}
}

// LockedError is returned by Lock when another holder has the lock.
type LockedError struct {
	// Path is the lock file.
	Path string
	// Holder is the exclusive holder; zero when the lock is held shared
	// (plans do not record themselves) or the holder left no record.
	Holder Holder
	// Waited is how long Lock retried before giving up; zero when it
	// failed at once.
	Waited time.Duration
	// Release, when set, says how the lock of a store other than a file
	// is freed, in place of the advice about lock files: "the lock is
	// released when it exits, or 15s after it crashed, when its etcd
	// lease expires".
	Release string
}

func (e *LockedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "state %s is locked", strings.TrimSuffix(e.Path, ".lock"))
	if e.Waited > 0 {
		fmt.Fprintf(&b, " (waited %s)", e.Waited.Round(time.Millisecond))
	}
	h := e.Holder
	if e.Release != "" {
		if h.Pid == 0 {
			fmt.Fprintf(&b, " by another netplan42, likely a plan (shared holders leave no record): wait for it to finish (%s)", e.Release)
			return b.String()
		}
		fmt.Fprintf(&b, " by %s (pid %d on host %s, since %s): wait for it to finish, or stop pid %d if it hangs (%s)",
			h.Operation, h.Pid, h.Host, h.Since.Local().Format(time.DateTime+" MST"), h.Pid, e.Release)
		return b.String()
	}
	// The kernel drops a flock when its holder exits, however it exits:
	// a lock that stays is held by a live process. Removing the lock file
	// would let two runs in at once, so the advice is to find the holder.
	if h.Pid == 0 {
		fmt.Fprintf(&b, " by another netplan42, likely a plan (shared holders leave no record): "+
			"wait for it to finish, or find it with `fuser -v %s` and stop it if it hangs", e.Path)
		return b.String()
	}
	fmt.Fprintf(&b, " by %s (pid %d on host %s, since %s): wait for it to finish, "+
		"or stop pid %d if it hangs (the lock is released when it exits; `fuser -v %s` shows who holds it)",
		h.Operation, h.Pid, h.Host, h.Since.Local().Format(time.DateTime+" MST"), h.Pid, e.Path)
	return b.String()
}

// Is makes errors.Is(err, ErrLocked) hold.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Lock implements Locker with flock(2) on LockPath. The lock file stays
// between runs; the exclusive holder writes its Holder into it as JSON. The
// kernel drops the lock when the holder exits, however it exits.
func (f *FileStore) Lock(ctx context.Context, info LockInfo) (func() error, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lock %s: %w", f, err)
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return nil, fmt.Errorf("lock %s: %w%s", f, err, permissionHint(err))
	}
	path := f.LockPath()
	start := time.Now()
	delay := 20 * time.Millisecond
	for {
		unlock, err := tryLock(path, info)
		le, locked := err.(*LockedError)
		if !locked {
			if err != nil {
				return nil, fmt.Errorf("lock %s: %w%s", f, err, permissionHint(err))
			}
			return unlock, nil
		}
		if _, ok := ctx.Deadline(); !ok {
			return nil, le
		}
		select {
		case <-ctx.Done():
			le.Waited = time.Since(start)
			return nil, le
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// tryLock takes the lock on path once, without waiting.
func tryLock(path string, info LockInfo) (func() error, error) {
	fh, err := openLock(path)
	if err != nil {
		return nil, err
	}
	held, err := flock(fh, info.Exclusive)
	if err != nil {
		fh.Close()
		return nil, err
	}
	if held {
		h := readHolder(fh)
		fh.Close()
		return nil, &LockedError{Path: path, Holder: h}
	}
	// Whatever the file holds is from a holder that has gone: an
	// exclusive holder clears it before unlocking, and none holds it now.
	err = fh.Truncate(0)
	if err == nil && info.Exclusive {
		b, _ := json.Marshal(currentHolder(info.Operation))
		_, err = fh.WriteAt(append(b, '\n'), 0)
	}
	if err != nil {
		funlock(fh)
		fh.Close()
		return nil, fmt.Errorf("record holder in %s: %w", path, err)
	}
	var once sync.Once
	var uerr error
	return func() error {
		once.Do(func() {
			if info.Exclusive {
				uerr = fh.Truncate(0)
			}
			if err := funlock(fh); uerr == nil {
				uerr = err
			}
			if err := fh.Close(); uerr == nil {
				uerr = err
			}
			if uerr != nil {
				uerr = fmt.Errorf("unlock %s: %w", path, uerr)
			}
		})
		return uerr
	}, nil
}

// readHolder returns the holder recorded in the lock file, or zero. The
// holder writes its record just after taking the lock, so an empty or
// partial record is read again briefly.
func readHolder(fh *os.File) Holder {
	for range 3 {
		b := make([]byte, 4096)
		n, _ := fh.ReadAt(b, 0)
		var h Holder
		if n > 0 && json.Unmarshal(b[:n], &h) == nil {
			return h
		}
		time.Sleep(5 * time.Millisecond)
	}
	return Holder{}
}
