package flow

// Messages of two-step (profile_first) registration.

// LabelBack is the label of the "screen=previous" button (1040008).
func LabelBack() *Message { return label(1040008, "Back") }

// MsgChooseCredentials is shown once the traits of a profile_first
// registration are valid and the credentials are asked for (1040009).
func MsgChooseCredentials() Message {
	return info(1040009, "Please choose a credential to authenticate yourself with.")
}
