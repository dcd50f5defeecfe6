from shiplane.plugins.catalog import capability_routes

# GET /integration-types and /integration-types/{typeId}: the tenant's enabled IntegrationTypes.
router = capability_routes("integration-types", "integration_type", "integrations:read")
