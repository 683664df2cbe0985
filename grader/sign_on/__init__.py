"""Single sign-on with OpenID Connect: the client (``oidc``), the sign-ins under way (``requests``)
and which account a signed-in person is (``accounts``). docs/sign-on.md explains the set-up."""
