import factory
from factory.django import DjangoModelFactory

from destinations.models import Connection, Destination, ReverseETLPipeline, Sync
from workspaces.models import Membership, Role, User, Workspace


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.SelfAttribute("username")


class WorkspaceFactory(DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ADMIN


class DestinationFactory(DjangoModelFactory):
    class Meta:
        model = Destination

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Webhook {n}")
    destination_type = "webhook"
    config = factory.LazyFunction(lambda: {"url": "https://hooks.example.com/in", "method": "POST"})
    secrets = factory.LazyFunction(lambda: {"headers": {"X-API-Key": "factory-secret"}})

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """Store config and secrets the way the service does (masked config, encrypted secret values)."""
        config, secrets = kwargs.pop("config"), kwargs.pop("secrets")
        destination = model_class(*args, **kwargs)
        destination.store_config({**config, **secrets})
        destination.save()
        return destination


class ConnectionFactory(DjangoModelFactory):
    class Meta:
        model = Connection

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Connection {n}")
    destination_type = "webhook"
    credentials = factory.LazyFunction(lambda: {"headers": {"Authorization": "Bearer conn-secret"}})


class PipelineFactory(DjangoModelFactory):
    class Meta:
        model = ReverseETLPipeline

    workspace = factory.SelfAttribute("destination.workspace")
    destination = factory.SubFactory(DestinationFactory)
    name = factory.Sequence(lambda n: f"Pipeline {n}")


class SyncFactory(PipelineFactory):
    class Meta:
        model = Sync

    name = factory.Sequence(lambda n: f"Sync {n}")
