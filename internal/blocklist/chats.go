package blocklist

import "strings"

// chatHosts are the hosts chat and support widgets load from, and
// ChatSelectors the containers they insert. Compiled from each vendor's
// documented embed snippet (the script it loads, the element it adds);
// a widget whose loader is refused never appears, and the selectors hide
// one a page serves from its own host.
var chatHosts = []string{
	"widget.intercom.io", "js.intercomcdn.com", "api-iam.intercom.io", // Intercom
	"js.driftt.com", "widget.drift.com", // Drift
	"static.zdassets.com", "ekr.zdassets.com", // Zendesk
	"client.crisp.chat",                       // Crisp
	"js.hs-scripts.com", "js.usemessages.com", // HubSpot
	"embed.tawk.to",                                 // tawk.to
	"cdn.livechatinc.com", "secure.livechatinc.com", // LiveChat
	"wchat.freshchat.com", "widget.freshworks.com", // Freshchat
	"code.tidio.co",           // Tidio
	"static.olark.com",        // Olark
	"beacon-v2.helpscout.net", // Help Scout
	"js.qualified.com",        // Qualified
	"widget.userlike.com",     // Userlike
}

// ChatSelectors are the widgets' root elements.
var ChatSelectors = []string{
	"#intercom-container", "#intercom-frame", ".intercom-lightweight-app", ".intercom-launcher",
	"#drift-widget-container", "#drift-frame-controller", "#drift-frame-chat",
	"#launcher[title*='messaging' i]", "iframe[title*='Messaging window' i]", "#webWidget",
	"#crisp-chatbox", ".crisp-client",
	"#hubspot-messages-iframe-container",
	".tawk-min-container", "iframe[title*='chat widget' i]",
	"#chat-widget-container", "#livechat-compact-container",
	"#fc_frame", "#freshworks-container",
	"#tidio-chat", "#tidio-chat-iframe",
	"#olark-wrapper", "#olark",
	"#beacon-container", ".BeaconFabButtonFrame",
	"#q-messenger-frame", "#userlike",
}

// ChatHost reports whether host (lower case) is a chat widget's or one of
// its subdomains.
func ChatHost(host string) bool {
	for _, h := range chatHosts {
		if host == h || strings.HasSuffix(host, "."+h) {
			return true
		}
	}
	return false
}
