from shiplane.plugins.catalog import capability_routes

# GET /step-types and /step-types/{type}: the tenant's enabled StepTypes.
router = capability_routes("step-types", "step_type", "workflows:read")
