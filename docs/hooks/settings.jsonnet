// Mirror a profile change; the receiver may answer with changes.
function(ctx) {
  identity_id: ctx.identity.id,
  traits: ctx.identity.traits,
  session_id: ctx.session.id,
}
