package graph

import (
	"errors"
	"reflect"
	"testing"
)

func TestLevels(t *testing.T) {
	got, err := Levels([]Node{
		{Name: "docker.service", Requires: []string{"containerd.service"}, After: []string{"containerd.service", "network-online.service"}},
		{Name: "containerd.service", After: []string{"network-online.service"}},
		{Name: "console.service", After: []string{"docker.service"}},
		{Name: "network-online.service"},
		{Name: "ntp.service", Wants: []string{"nosuch.service"}, After: []string{"nosuch.service"}},
		{Name: "early.service", Before: []string{"network-online.service"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"early.service", "ntp.service"},
		{"network-online.service"},
		{"containerd.service"},
		{"docker.service"},
		{"console.service"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestRequiresWithoutAfterDoesNotOrder(t *testing.T) {
	got, err := Levels([]Node{{Name: "a.service", Requires: []string{"b.service"}}, {Name: "b.service"}})
	if err != nil || !reflect.DeepEqual(got, [][]string{{"a.service", "b.service"}}) {
		t.Fatalf("got %v %v", got, err)
	}
}

func TestCycle(t *testing.T) {
	_, err := Levels([]Node{
		{Name: "a.service", After: []string{"b.service"}},
		{Name: "b.service", After: []string{"c.service"}},
		{Name: "c.service", Before: []string{"a.service"}, After: []string{"a.service"}},
		{Name: "d.service"},
	})
	var ce *CycleError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a cycle", err)
	}
	if want := []string{"a.service", "b.service", "c.service", "a.service"}; !reflect.DeepEqual(ce.Units, want) {
		t.Fatalf("cycle %v, want %v", ce.Units, want)
	}
	if ce.Error() != "ordering cycle: a.service → b.service → c.service → a.service (remove one After= or Before= of these)" {
		t.Fatalf("message %q", ce.Error())
	}
}

func TestMissingRequires(t *testing.T) {
	_, err := Levels([]Node{{Name: "a.service", Requires: []string{"gone.service"}}})
	var me *MissingError
	if !errors.As(err, &me) || me.Error() != "a.service requires gone.service, which is not defined" {
		t.Fatalf("err = %v", err)
	}
}
