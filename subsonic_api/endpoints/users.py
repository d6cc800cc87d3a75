"""User management: getUser, getUsers, createUser, updateUser, deleteUser, changePassword
(docs/subsonic-spec.md §3 User management).

Admin only, except getUser and changePassword on one's own account (error 50 otherwise;
the spec does not say so for create/update/delete, but Subsonic-derived servers check
adminRole). Every change is audited (orbsonic.library.audit) by orbsonic.auth.users.
"""

from __future__ import annotations

from typing import Any

from orbsonic.auth import users
from orbsonic.auth.passwords import decode_enc
from orbsonic.auth.users import ROLE_ATTRS, User, UserChanges
from orbsonic.errors import BadParam, NotAuthorized, NotFound
from orbsonic.library import folders
from subsonic_api.params import Params
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload

# Subsonic role name → its request parameter and User attribute name ("streamRole", …;
# scrobbling is the odd one: `scrobblingEnabled`).
ROLE_PARAMS = {role: "scrobblingEnabled" if role == "scrobbling" else f"{role}Role" for role in ROLE_ATTRS}
# createUser defaults (spec §3: settingsRole and streamRole true, the others false);
# scrobblingEnabled is not a createUser parameter in the spec: on, as the column default.
CREATE_DEFAULTS = {role: role in ("settings", "stream", "scrobbling") for role in ROLE_ATTRS}


def user_shape(u: User, all_folder_ids: list[int]) -> dict[str, Any]:
    """A Subsonic User: the roles the user holds (an admin every one), and in `folder` the
    music folders they may read (xs:int): their own set, or every folder
    (`all_folder_ids`) when unrestricted."""
    body: dict[str, Any] = {"username": u.username, "email": u.email}
    for role in ROLE_ATTRS:
        body[ROLE_PARAMS[role]] = u.has_role(role)  # admins hold every role (registry check)
    body["maxBitRate"] = u.max_bitrate
    body["folder"] = all_folder_ids if u.folder_ids is None else [
        f for f in all_folder_ids if f in u.folder_ids]
    return body


def _password(p: Params, required: bool) -> str | None:
    """`password`, clear or `enc:<hex of UTF-8>` (spec §2.2 form)."""
    text = p.str("password") if required else p.str("password", None)
    if text is None:
        return None
    try:
        return decode_enc(text)
    except (ValueError, UnicodeDecodeError):
        raise BadParam("password", "enc: must be followed by the hex of a UTF-8 password") from None


def _roles(p: Params, defaults: dict[str, bool] | None = None) -> dict[str, bool]:
    """Roles present in the request (`adminRole=true` …), over `defaults`."""
    roles = dict(defaults or {})
    for role, name in ROLE_PARAMS.items():
        if p.has(name):
            roles[role] = p.bool(name)
    return roles


def _folders(p: Params) -> list[int] | None:
    """Repeated musicFolderId, or None when absent."""
    values = p.list("musicFolderId")
    if not values:
        return None
    out = []
    for v in values:
        try:
            out.append(int(v))
        except ValueError:
            raise BadParam("musicFolderId", f"{v!r} is not an integer") from None
    return out


def _no_ldap(p: Params) -> None:
    if p.bool("ldapAuthenticated"):
        raise BadParam("ldapAuthenticated", "LDAP authentication is not supported")


async def _all_folder_ids(ctx: Ctx) -> list[int]:
    return [r["id"] for r in await folders.music_folders(ctx.conn)]


@endpoint("getUser")
async def get_user(ctx: Ctx) -> Payload:
    """A user may read their own record; admins may read anyone's (error 50 otherwise)."""
    name = ctx.params.str("username", ctx.user.username)
    if name != ctx.user.username and not ctx.user.is_admin:
        raise NotAuthorized("only admins may read other users")
    user = ctx.user if name == ctx.user.username else await users.get_by_name(ctx.conn, name)
    if user is None:
        raise NotFound("user", name)
    return Payload("user", user_shape(user, await _all_folder_ids(ctx)))


@endpoint("getUsers", admin=True)
async def get_users(ctx: Ctx) -> Payload:
    """Every user, by username."""
    all_ids = await _all_folder_ids(ctx)
    return Payload("users", {"user": [user_shape(u, all_ids) for u in await users.list_users(ctx.conn)]})


@endpoint("createUser", admin=True)
async def create_user(ctx: Ctx) -> Payload:
    """username, password and email are required; roles default as the spec says; no
    musicFolderId means every folder (also folders added later)."""
    p = ctx.params
    _no_ldap(p)
    name, email = p.str("username"), p.str("email")
    password = _password(p, required=True)
    assert password is not None
    roles = _roles(p, CREATE_DEFAULTS)
    await users.create_user(ctx.conn, ctx.state.key, name, password, is_admin=roles.pop("admin"),
                            email=email, roles=roles, folder_ids=_folders(p),
                            max_bitrate=p.int("maxBitRate", 0), actor=ctx.user.username)
    return Payload()


@endpoint("updateUser", admin=True)
async def update_user(ctx: Ctx) -> Payload:
    """Only the parameters present change (`password` is optional, spec §9 #2)."""
    p = ctx.params
    _no_ldap(p)
    changes = UserChanges(email=p.str("email", None), password=_password(p, required=False),
                          roles=_roles(p), folder_ids=_folders(p),
                          max_bitrate=p.opt_int("maxBitRate"))
    await users.update_user(ctx.conn, ctx.state.key, p.str("username"), changes, actor=ctx.user.username)
    return Payload()


@endpoint("deleteUser", admin=True)
async def delete_user(ctx: Ctx) -> Payload:
    """Refuses to delete the caller's own account or the last admin (error 0, with why)."""
    await users.delete_user(ctx.conn, ctx.params.str("username"), actor=ctx.user.username)
    return Payload()


@endpoint("changePassword")
async def change_password(ctx: Ctx) -> Payload:
    """Anyone may change their own password; admins anyone's (error 50 otherwise)."""
    p = ctx.params
    name = p.str("username")
    password = _password(p, required=True)
    assert password is not None
    await users.change_password(ctx.conn, ctx.state.key, ctx.user, name, password)
    return Payload()
