package publish

// SetCrashPoint makes a rotation stop with err at the named step.
func SetCrashPoint(step string, err error) func() {
	old := crashPoint
	crashPoint = func(s string) error {
		if s == step {
			return err
		}
		return nil
	}
	return func() { crashPoint = old }
}
