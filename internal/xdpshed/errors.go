package xdpshed

import "fmt"

func errorf(format string, args ...any) error {
	return fmt.Errorf("xdpshed: "+format, args...)
}
