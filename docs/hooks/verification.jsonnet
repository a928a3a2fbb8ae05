// Mark the address as confirmed in a CRM once it is verified.
function(ctx) {
  identity_id: ctx.identity.id,
  email: ctx.identity.traits.email,
  verification_flow: ctx.flow.id,
  method: ctx.flow.active,
}
