// Package useragent makes plausible browser user-agent strings for
// use_random_user_agent, from the device, platform and browser a client asks for.
package useragent

import (
	"fmt"
	"math/rand/v2"
)

// platformFor picks the platform when the client named none.
func platformFor(device string) string {
	if device == "mobile" {
		return "android"
	}
	return "windows"
}

// osPart is the parenthesised system part of the string.
func osPart(platform string) string {
	switch platform {
	case "macos":
		return "Macintosh; Intel Mac OS X 10_15_7"
	case "linux":
		return "X11; Linux x86_64"
	case "ios":
		return fmt.Sprintf("iPhone; CPU iPhone OS %d_%d like Mac OS X", 17+rand.IntN(2), rand.IntN(6))
	case "android":
		return "Linux; Android 10; K"
	}
	return "Windows NT 10.0; Win64; x64"
}

// Random returns a user agent for device (desktop, mobile), platform (windows,
// macos, ios, linux, android or "") and browser (chrome, edge, firefox, safari).
func Random(device, platform, browser string) string {
	if platform == "" {
		platform = platformFor(device)
	}
	mobile := ""
	if device == "mobile" {
		mobile = "Mobile "
	}
	sys := osPart(platform)
	chrome := 120 + rand.IntN(20)
	switch browser {
	case "firefox":
		v := 120 + rand.IntN(20)
		if platform == "ios" {
			return fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/%d.0 %sSafari/605.1.15", sys, v, mobile)
		}
		if device == "mobile" {
			return fmt.Sprintf("Mozilla/5.0 (Android 14; Mobile; rv:%d.0) Gecko/%d.0 Firefox/%d.0", v, v, v)
		}
		return fmt.Sprintf("Mozilla/5.0 (%s; rv:%d.0) Gecko/20100101 Firefox/%d.0", sys, v, v)
	case "safari":
		v := 16 + rand.IntN(3)
		return fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/%d.%d %sSafari/605.1.15", sys, v, rand.IntN(6), mobile)
	case "edge":
		return fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.0.0 %sSafari/537.36 Edg/%d.0.0.0", sys, chrome, mobile, chrome)
	}
	if platform == "ios" {
		return fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/%d.0.0.0 %sSafari/604.1", sys, chrome, mobile)
	}
	return fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.0.0 %sSafari/537.36", sys, chrome, mobile)
}
