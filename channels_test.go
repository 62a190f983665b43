package deskie

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChannelsList(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/custom_channels.json", ok(fixture(t, "custom_channels.json")))
	got, err := c.Channels.List(context.Background())
	require.NoError(t, err)
	s := rec.last(t)
	assert.Equal(t, "GET", s.Method)
	assert.Empty(t, s.Query)
	assertAuth(t, s)
	assert.Equal(t, []*CustomChannel{
		{ID: 1, Code: "cch1", Title: "Custom Channel", Type: ChannelAsync, Icon: "fa-question-circle", WebhookURL: "http://example.ru/wh/omni_wh/", Active: true},
		{ID: 3, Code: "cch3", Title: "Custom Channel Chat", Type: ChannelSync, Icon: "fa-bullhorn", WebhookURL: "http://example.ru/wh/omni_wh_chat/", Active: true},
	}, got)
	assert.Equal(t, "cch3", got[1].Code)
}

func TestCustomChannelCodeFallsBackToID(t *testing.T) {
	var ch CustomChannel
	require.NoError(t, json.Unmarshal([]byte(`{"channel_id":"7","channel_api_key":"","title":"x"}`), &ch))
	assert.Equal(t, "cch7", ch.Code)
	require.NoError(t, json.Unmarshal([]byte(`{"channel_id":8,"channel_api_key":" cch12 "}`), &ch))
	assert.Equal(t, "cch12", ch.Code)
}

func TestIsCustomChannel(t *testing.T) {
	for code, want := range map[string]bool{"cch1": true, "cch159": true, "cch": false, "cch1a": false, "email": false, "CCH1": false, "": false, "xcch1": false} {
		assert.Equal(t, want, IsCustomChannel(code), code)
	}
}
