//go:build unix

package relay

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockStore takes the store's lock file, which the system releases when
// the process ends, however it ends; unlock releases it before.
func lockStore(dir string) (unlock func(), err error) {
	name := filepath.Join(dir, lockName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("farpipe: relay store %s: %w: give a writable directory with --store", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s: give each relay its own --store", ErrStoreInUse, dir)
		}
		return nil, fmt.Errorf("farpipe: relay store %s: cannot lock %s: %w", dir, lockName, err)
	}
	return func() { f.Close() }, nil
}
