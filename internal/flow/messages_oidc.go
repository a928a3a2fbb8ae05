package flow

// GroupOIDC is the node group of the oidc (social sign-in) method.
const GroupOIDC = "oidc"

// LabelLoginWith is the sign-in button of a provider (1010002); label is
// the provider's label (its id when it has none), id its id. The ids and
// texts of this file are Kratos's.
func LabelLoginWith(label, id string) *Message {
	return withProvider(labelMsg(1010002, "Sign in with "+label), label, id)
}

// LabelRegisterWith is the sign-up button of a provider (1040002).
func LabelRegisterWith(label, id string) *Message {
	return withProvider(labelMsg(1040002, "Sign up with "+label), label, id)
}

// LabelLink is the settings button that links a provider (1050002).
func LabelLink(label string) *Message {
	m := labelMsg(1050002, "Link "+label)
	m.Context = map[string]any{"provider": label}
	return m
}

// LabelUnlink is the settings button that removes a provider (1050003).
func LabelUnlink(label string) *Message {
	m := labelMsg(1050003, "Unlink "+label)
	m.Context = map[string]any{"provider": label}
	return m
}

// MsgLoginLink is shown on the login flow a social sign-up is sent to
// when its email belongs to an account already (1010016): signing in
// there links the provider.
func MsgLoginLink(identifier, provider, newLoginURL string, credentialTypes, providers []string) Message {
	m := info(1010016, "You tried to sign in with \""+identifier+"\", but that email is already used by another account. Sign in to your account with one of the options below to add your account \""+identifier+"\" at \""+provider+"\" as another way to sign in.")
	m.Context = map[string]any{
		"duplicateIdentifier": identifier, "provider": provider, "newLoginUrl": newLoginURL,
		"duplicate_identifier": identifier, "new_login_url": newLoginURL,
		"available_credential_types": credentialTypes, "available_providers": providers,
	}
	return m
}

func withProvider(m *Message, label, id string) *Message {
	m.Context = map[string]any{"provider": label, "provider_id": id}
	return m
}

// labelMsg is label under a name that the parameters above do not shadow.
var labelMsg = label
