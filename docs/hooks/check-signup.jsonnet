// Send the traits to a service that may change them (response.parse).
function(ctx) {
  flow_id: ctx.flow.id,
  traits: ctx.identity.traits,
}
