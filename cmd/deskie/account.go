package main

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/deskie-go/deskie"
)

// account holds the credential flags shared by the commands that call an account.
type account struct {
	subdomain, baseURL, email, apiKey string
	retries                           int
}

func (a *account) register(fs *flag.FlagSet) {
	fs.StringVar(&a.subdomain, "subdomain", "", "the account at https://`NAME`.deskie.io (default $DESKIE_SUBDOMAIN)")
	fs.StringVar(&a.baseURL, "base-url", "", "the API's `origin` instead, e.g. https://acme.omnidesk.ru or a fake's URL (default $DESKIE_BASE_URL)")
	fs.StringVar(&a.email, "email", "", "the staff e-mail the API key belongs to (default $DESKIE_EMAIL)")
	fs.StringVar(&a.apiKey, "api-key", "", "the API key (default $DESKIE_API_KEY; prefer the variable, a flag shows in the process list)")
	fs.IntVar(&a.retries, "retries", 3, "retries of a failed call (a write is retried only where it surely was not applied)")
}

// client builds the SDK client from the flags, falling back to the environment.
func (a *account) client(e *env) (*deskie.Client, error) {
	sub, base := strings.TrimSpace(a.subdomain), strings.TrimSpace(a.baseURL)
	switch {
	case sub != "" && base != "":
		return nil, usagef("give --subdomain or --base-url, not both")
	case sub == "" && base == "":
		// The environment; a base URL wins over a subdomain.
		if base = strings.TrimSpace(e.getenv("DESKIE_BASE_URL")); base == "" {
			sub = strings.TrimSpace(e.getenv("DESKIE_SUBDOMAIN"))
		}
	}
	email := cmpOr(strings.TrimSpace(a.email), strings.TrimSpace(e.getenv("DESKIE_EMAIL")))
	key := cmpOr(strings.TrimSpace(a.apiKey), strings.TrimSpace(e.getenv("DESKIE_API_KEY")))
	e.secrets = append(e.secrets, key)
	switch {
	case sub == "" && base == "":
		return nil, usagef("no account: set DESKIE_SUBDOMAIN or DESKIE_BASE_URL (or --subdomain / --base-url)")
	case email == "":
		return nil, usagef("no staff e-mail: set DESKIE_EMAIL (or --email)")
	case key == "":
		return nil, usagef("no API key: set DESKIE_API_KEY (or --api-key)")
	case a.retries < 0:
		return nil, usagef("--retries must be 0 or more")
	}
	opts := []deskie.Option{
		deskie.WithUserAgent("deskie-cli/" + sdkVersion()),
		deskie.WithMaxRetries(a.retries),
	}
	if base != "" {
		opts = append(opts, deskie.WithBaseURL(base))
	}
	client, err := deskie.NewClient(sub, email, key, opts...)
	if err != nil {
		var ae *deskie.ArgumentError
		if errors.As(err, &ae) {
			return nil, usagef("%s", describeArgument(ae))
		}
		return nil, err
	}
	return client, nil
}

// describeArgument names the flag or variable behind a NewClient argument error.
func describeArgument(ae *deskie.ArgumentError) string {
	switch ae.Field {
	case "subdomain":
		return "the subdomain (--subdomain, DESKIE_SUBDOMAIN): " + ae.Reason
	case "WithBaseURL":
		return "the base URL (--base-url, DESKIE_BASE_URL): " + ae.Reason
	case "staffEmail":
		return "the staff e-mail (--email, DESKIE_EMAIL): " + ae.Reason
	case "apiKey":
		return "the API key (--api-key, DESKIE_API_KEY): " + ae.Reason
	}
	return strings.TrimPrefix(ae.Error(), "deskie: ")
}

// explain adds a hint to the errors a person can fix.
func explain(err error) error {
	var ae *deskie.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return errors.New(strings.TrimPrefix(err.Error(), "deskie: ") + " (timed out: see --timeout)")
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New(strings.TrimPrefix(err.Error(), "deskie: ") + " (nothing answers there: check the base URL, DESKIE_BASE_URL or --base-url)")
	case !errors.As(err, &ae):
		return err
	case ae.StatusCode == http.StatusUnauthorized:
		return errors.New(strings.TrimPrefix(err.Error(), "deskie: ") + " (check the API key: DESKIE_API_KEY or --api-key)")
	case ae.StatusCode == http.StatusForbidden && (ae.Code == "" || strings.Contains(ae.Code, "email")):
		return errors.New(strings.TrimPrefix(err.Error(), "deskie: ") + " (check the staff e-mail: DESKIE_EMAIL or --email)")
	}
	return err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func sdkVersion() string { return deskie.Version }

// timeoutFlag registers --timeout for a one-shot command.
func timeoutFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("timeout", time.Minute, "give up after this long")
}
