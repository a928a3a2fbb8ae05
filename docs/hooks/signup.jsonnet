// Tell another system about a new account. Accounts of the
// @skip.example domain are not sent: error "cancel" skips the call
// and the registration goes on.
function(ctx)
  if std.endsWith(ctx.identity.traits.email, "@skip.example") then
    error "cancel"
  else {
    identity_id: ctx.identity.id,
    email: ctx.identity.traits.email,
    // transient_payload: what the client sent along with the form.
    campaign: std.get(std.get(ctx.flow, "transient_payload", {}), "campaign", null),
    user_agent: std.get(ctx.request_headers, "User-Agent", [null])[0],
  }
