// Record a sign-in: who, which session, from where.
function(ctx) {
  identity_id: ctx.identity.id,
  session_id: ctx.session.id,
  aal: ctx.session.authenticator_assurance_level,
  method: ctx.request_method,
  url: ctx.request_url,
}
