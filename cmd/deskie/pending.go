//go:build !deskiewatch

package main

import (
	"context"
	"errors"
)

// TODO(issue 14): listen.go builds once Replies.Watch lands; until then the
// command says so.
func runListen(context.Context, *env, []string) error {
	return errors.New("not available in this build (needs Replies.Watch)")
}

const listenBuilt = false
