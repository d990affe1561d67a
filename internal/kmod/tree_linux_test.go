package kmod

import (
	"errors"
	"testing"
)

func TestTreeLoadWithoutModule(t *testing.T) {
	tr := testTree(t)
	// Built in: nothing to load, no error, and the tree is not touched.
	if err := tr.Load("ext4", ""); err != nil {
		t.Errorf("Load(ext4): %v", err)
	}
	var missing *ErrNoModule
	if err := tr.Load("binfmt-00b7", ""); !errors.As(err, &missing) || missing.Name != "binfmt-00b7" {
		t.Errorf("Load(binfmt-00b7) = %v, want ErrNoModule", err)
	}
}
