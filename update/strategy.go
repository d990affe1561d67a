package update

import "fmt"

// Strategy is what a machine does with the updates its channel offers
// (user-data's berth.update.strategy).
type Strategy string

const (
	StrategyOff      Strategy = "off"      // never checks
	StrategyCheck    Strategy = "check"    // logs what is offered
	StrategyDownload Strategy = "download" // fetches and verifies it too
	StrategyReboot   Strategy = "reboot"   // installs it and reboots in the window
)

// Strategies are the valid strategies, in the order the docs give them.
var Strategies = []Strategy{StrategyOff, StrategyCheck, StrategyDownload, StrategyReboot}

// ParseStrategy checks a strategy's name.
func ParseStrategy(s string) (Strategy, error) {
	for _, st := range Strategies {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown strategy %q", s)
}
