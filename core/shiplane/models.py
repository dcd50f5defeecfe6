"""Every model module, imported so ``metadata`` (Alembic's target) is complete."""

from shiplane.agents import models as _agents  # noqa: F401
from shiplane.audit import reports as _audit_reports  # noqa: F401
from shiplane.audit import streaming as _audit_streaming  # noqa: F401
from shiplane.components import models as _components  # noqa: F401
from shiplane.deployments import models as _deployments  # noqa: F401
from shiplane.engine import models as _engine  # noqa: F401
from shiplane.environments import models as _environments  # noqa: F401
from shiplane.evidence import models as _evidence  # noqa: F401
from shiplane.integrations import models as _integrations  # noqa: F401
from shiplane.platform import audit as _audit  # noqa: F401
from shiplane.platform import events as _events  # noqa: F401
from shiplane.platform import idempotency as _idempotency  # noqa: F401
from shiplane.platform import reads as _reads  # noqa: F401
from shiplane.platform.database import Base
from shiplane.plugins import models as _plugins  # noqa: F401
from shiplane.progressive import models as _progressive  # noqa: F401
from shiplane.promotions import models as _promotions  # noqa: F401
from shiplane.releases import models as _releases  # noqa: F401
from shiplane.retention import service as _retention  # noqa: F401
from shiplane.serviceaccounts import models as _serviceaccounts  # noqa: F401
from shiplane.targets import models as _targets  # noqa: F401
from shiplane.variables import models as _variables  # noqa: F401
from shiplane.workflows import models as _workflows  # noqa: F401

metadata = Base.metadata
