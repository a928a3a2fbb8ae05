function(ctx) {
  identity_id: if std.objectHas(ctx, "identity") then ctx.identity.id else null,
}
