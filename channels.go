package deskie

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// ChannelsService lists custom channels (GET /api/custom_channels.json). Channels
// are created and configured in the admin UI; the API only lists them.
type ChannelsService service

// ChannelType says how a custom channel works.
type ChannelType string

// The custom channel types.
const (
	// ChannelAsync works like e-mail.
	ChannelAsync ChannelType = "async"
	// ChannelSync works in real time, like a chat.
	ChannelSync ChannelType = "sync"
)

// CustomChannel is one custom channel. Code is its code ("cch12"), the value to
// pass as a case's Channel and CustomerMessage.Channel. The wire calls it
// channel_api_key, but it is not a secret; when the API sends none, Code is
// "cch<ID>".
type CustomChannel struct {
	ID         int64       `json:"channel_id"`
	Code       string      `json:"channel_api_key"`
	Title      string      `json:"title"`
	Type       ChannelType `json:"channel_type"`
	Icon       string      `json:"icon"`        // a Font Awesome class
	WebhookURL string      `json:"webhook_url"` // where agent replies are POSTed
	Active     bool        `json:"active"`
}

// UnmarshalJSON decodes a channel forgivingly.
func (ch *CustomChannel) UnmarshalJSON(b []byte) error {
	var w struct {
		ID         flexInt    `json:"channel_id"`
		APIKey     flexString `json:"channel_api_key"`
		Title      flexString `json:"title"`
		Type       flexString `json:"channel_type"`
		Icon       flexString `json:"icon"`
		WebhookURL flexString `json:"webhook_url"`
		Active     flexBool   `json:"active"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("custom_channel: %w", err)
	}
	*ch = CustomChannel{ID: int64(w.ID), Code: strings.TrimSpace(string(w.APIKey)), Title: string(w.Title), Type: ChannelType(w.Type),
		Icon: string(w.Icon), WebhookURL: string(w.WebhookURL), Active: bool(w.Active)}
	if ch.Code == "" && ch.ID > 0 {
		ch.Code = "cch" + strconv.FormatInt(ch.ID, 10)
	}
	return nil
}

// List returns every custom channel of the account.
func (s *ChannelsService) List(ctx context.Context) ([]*CustomChannel, error) {
	env, err := getList[CustomChannel](ctx, s.client, "custom_channels.json", "custom_channel", nil)
	if err != nil {
		return nil, err
	}
	return env.items, nil
}
