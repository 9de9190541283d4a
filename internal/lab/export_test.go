package lab

import "path"

func matchDefault(name string) (bool, error) { return path.Match(DefaultSweepPattern, name) }
