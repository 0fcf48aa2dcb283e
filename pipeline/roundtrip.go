package pipeline

import (
	"fmt"
	"reflect"
)

// CheckRoundTrip parses a match and an actions string, renders both back to
// OVN syntax, parses the renderings and reports whether the two parses
// differ. It is the property the canonical rendering must keep.
func CheckRoundTrip(match, actionsText string) error {
	e1, err := parseMatch(match)
	if err != nil {
		return fmt.Errorf("match: %w", err)
	}
	e2, err := parseMatch(e1.String())
	if err != nil {
		return fmt.Errorf("match rendering %q: %w", e1.String(), err)
	}
	if !reflect.DeepEqual(e1, e2) {
		return fmt.Errorf("match %q renders as %q which parses differently", match, e1.String())
	}
	a1, err := parseActions(actionsText)
	if err != nil {
		return fmt.Errorf("actions: %w", err)
	}
	a2, err := parseActions(a1.String())
	if err != nil {
		return fmt.Errorf("actions rendering %q: %w", a1.String(), err)
	}
	if !reflect.DeepEqual(a1, a2) {
		return fmt.Errorf("actions %q render as %q which parse differently", actionsText, a1.String())
	}
	return nil
}
