"""A credential's host is the host the request reaches: every spelling on which URL parsers disagree is refused.

The reference for "reaches" is requests itself: for each accepted URL, the host requests would connect to
(its prepared URL, read by urllib3) is the host the check returned.
"""

import pytest
import requests
from urllib3.util import parse_url

from connectors.runtime.hosts import HostRefused, url_host
from connectors.salesforce import OAUTH

LOGIN = OAUTH.login  # Salesforce's login-host rules, as its connector declares them


def salesforce_login_base(login_url, base_url):
    return LOGIN.base(login_url, base_url)


def salesforce_instance_allowed(instance_url, base_url):
    return LOGIN.instance_allowed(instance_url, base_url)


# Each would reach evil.example (or a host no check meant) if a check read it with urlsplit, or is not plain.
LOGIN_BYPASSES = [
    "https://evil.example\\.my.salesforce.com",  # urllib3: host evil.example; urlsplit: *.my.salesforce.com
    "https://evil.example\\\\.my.salesforce.com",
    "https://evil.example\\@login.salesforce.com",  # urlsplit: host login.salesforce.com
    "https://evil.example:443\\@login.salesforce.com",
    "https:\\\\evil.example\\.my.salesforce.com",
    "https://login.salesforce.com@evil.example",
    "https://user:password@login.salesforce.com",
    "https://evil.example%2f.my.salesforce.com",
    "https://evil.example%5c.my.salesforce.com",
    "https://evil.example%40login.salesforce.com",
    "https://login.salesforce.com%2eevil.example",
    "https://evil.example%E3%80%82my.salesforce.com",
    "https://evil.example\t.my.salesforce.com",  # urlsplit drops the tab: host evil.example.my.salesforce.com
    "https://evil.example\n.my.salesforce.com",
    "https://evil.example\x00.my.salesforce.com",
    "https://evil.example .my.salesforce.com",
    "https://evil.example\u3002my.salesforce.com",  # ideographic full stop, a dot to IDNA
    "https://evil.example\uff0emy.salesforce.com",  # fullwidth full stop
    "https://\uff4cogin.salesforce.com",  # fullwidth l
    "https://login.salesforce.com.evil.example",
    "https://login.salesforce.com.",
    "https://evil.example#.my.salesforce.com",
    "https://evil.example?.my.salesforce.com",
    "https://evil.example/.my.salesforce.com",
    "https://evil.example;.my.salesforce.com",
    "https://my.salesforce.com",  # the suffix itself is no org's My Domain
    "https://evilmy.salesforce.com",
    "http://login.salesforce.com",
    "https:/login.salesforce.com",
    "https:login.salesforce.com",
    "//login.salesforce.com",
    "https://login.salesforce.com:8443",
    "https://login.salesforce.com:443:80",
    "https://[::1]",
    "https://127.0.0.1",
    "https://-evil.my.salesforce.com",
]
# Salesforce hosts, but not login hosts: an instance may be any of them.
INSTANCE_BYPASSES = [
    u for u in LOGIN_BYPASSES if u not in ("https://my.salesforce.com", "https://evilmy.salesforce.com")
]
LOGIN_HOSTS = {
    "https://login.salesforce.com": "login.salesforce.com",
    "https://test.salesforce.com/": "test.salesforce.com",
    "https://acme.my.salesforce.com": "acme.my.salesforce.com",
    "https://Acme--Dev.Sandbox.My.Salesforce.com": "acme--dev.sandbox.my.salesforce.com",
    "https://login.salesforce.com:443": "login.salesforce.com",
}


@pytest.mark.parametrize("login_url", LOGIN_BYPASSES)
def test_a_login_url_that_is_not_plainly_a_salesforce_login_host_is_refused(login_url):
    with pytest.raises(ValueError, match="login_url must be"):
        salesforce_login_base(login_url, None)


@pytest.mark.parametrize("url", INSTANCE_BYPASSES)
def test_no_bypass_spelling_is_an_allowed_instance_either(url):
    assert not salesforce_instance_allowed(url, None)
    assert not salesforce_instance_allowed(url.replace("login.", "na1."), None)


@pytest.mark.parametrize(("login_url", "host"), LOGIN_HOSTS.items())
def test_salesforce_login_hosts_are_accepted_as_the_host_requests_reaches(login_url, host):
    assert salesforce_login_base(login_url, None) == f"https://{host}"
    assert parse_url(requests.Request("POST", f"https://{host}/services/oauth2/token").prepare().url).host == host


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hooks?a=b\\c",
        "http://127.0.0.1:8080/x",
        "https://[2001:db8::1]:8443/x",
        "https://xn--bcher-kva.example/",
        "HTTPS://Example.COM",
    ],
)
def test_plain_urls_give_the_host_that_requests_connects_to(url):
    checked = url_host(url, schemes=("http", "https"))
    reached = parse_url(requests.Request("GET", url).prepare().url)
    assert (checked.host, checked.port) == (reached.host.strip("[]"), reached.port)


@pytest.mark.parametrize("url", [u for u in LOGIN_BYPASSES if "\\" in u or "@" in u or "%" in u])
def test_the_parser_names_what_is_wrong(url):
    with pytest.raises(HostRefused) as refused:
        url_host(url)
    assert any(word in str(refused.value) for word in ("backslash", "user-info", "percent", "two slashes")), url


def test_an_operator_rebased_login_host_is_kept():
    base = "http://127.0.0.1:8999"
    assert salesforce_login_base(base, base) == base
    assert salesforce_login_base("https://test.salesforce.com", base) == base
    assert salesforce_instance_allowed(base + "/", base)
    assert not salesforce_instance_allowed("http://127.0.0.1:8998", base)
    assert not salesforce_instance_allowed("http://127.0.0.1:8999\\@na1.salesforce.com", base)


def test_a_login_server_is_recognised_only_when_plainly_named():
    assert all(LOGIN.is_login_server(url) for url in LOGIN_HOSTS)
    assert not any(LOGIN.is_login_server(url) for url in LOGIN_BYPASSES)
