from shiplane.plugins.catalog import capability_routes

# GET /rollout-strategies: the tenant's enabled RolloutStrategies.
router = capability_routes("rollout-strategies", "rollout_strategy", "ab-releases:read", with_detail=False)
