// Tell a security desk that an account was recovered.
function(ctx) {
  identity_id: ctx.identity.id,
  email: ctx.identity.traits.email,
  recovery_flow: ctx.flow.id,
}
