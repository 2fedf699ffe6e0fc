// Teams: the ones you are in, your invitations, and for each team its members (owners invite, change roles and
// remove; anyone leaves).
import { api, session } from "./api.js";
import { attempt, badge, el, fill, when } from "./dom.js";

const ROLES = ["owner", "member", "viewer"];

function roleSelect(name, chosen) {
  return el(
    "select",
    { name },
    ROLES.map((role) => el("option", { value: role, selected: role === chosen }, role)),
  );
}

async function teamCard(team, reload) {
  const owner = team.role === "owner";
  const members = await api(`/teams/${team.id}/members`);
  const username = el("input", { type: "text", name: "username", placeholder: "username to invite", required: true });
  const role = roleSelect("role", "member");
  const invite = (event) => {
    event.preventDefault();
    attempt(async () => {
      await api(`/teams/${team.id}/invitations`, {
        method: "POST",
        body: { username: username.value.trim(), role: role.value },
      });
      username.value = "";
      await reload();
    }, "Invitation sent");
  };
  const memberRow = (m) => {
    const changeRole = roleSelect("member-role", m.role);
    changeRole.disabled = !owner;
    changeRole.addEventListener("change", () =>
      attempt(async () => {
        await api(`/teams/${team.id}/members/${m.user_id}`, { method: "PATCH", body: { role: changeRole.value } });
        await reload();
      }, "Role changed"),
    );
    const itsMe = m.user_id === session.me?.id;
    const remove = el(
      "button",
      {
        type: "button",
        class: "secondary remove",
        onclick: () => {
          if (!confirm(itsMe ? "Leave this team?" : `Remove ${m.username}?`)) return;
          attempt(
            async () => {
              await api(`/teams/${team.id}/members/${m.user_id}`, { method: "DELETE" });
              await reload();
            },
            itsMe ? "Left the team" : "Removed",
          );
        },
      },
      itsMe ? "Leave" : "Remove",
    );
    return el(
      "tr",
      { "data-member": m.username },
      el("td", {}, m.username),
      el("td", {}, changeRole),
      el("td", {}, when(m.created_at)),
      el("td", {}, owner || itsMe ? remove : null),
    );
  };
  return el(
    "section",
    { class: "card team", "data-team": team.name },
    el("h2", {}, team.name, " ", badge(team.role)),
    el("p", { class: "muted mono" }, team.id),
    el(
      "table",
      { class: "members" },
      el("tr", {}, el("th", {}, "Member"), el("th", {}, "Role"), el("th", {}, "Since"), el("th", {}, "")),
      members.map(memberRow),
    ),
    owner
      ? el(
          "form",
          { class: "row invite", onsubmit: invite },
          username,
          role,
          el("button", { type: "submit" }, "Invite"),
        )
      : null,
  );
}

function invitationRow(invitation, reload) {
  const answer = (verb) => () =>
    attempt(
      async () => {
        await api(`/teams/invitations/${invitation.id}/${verb}`, { method: "POST" });
        await reload();
      },
      verb === "accept" ? `Joined ${invitation.team_name}` : "Declined",
    );
  return el(
    "li",
    { class: "invitation", "data-team": invitation.team_name },
    `${invitation.team_name} as ${invitation.role} `,
    el("button", { type: "button", class: "accept", onclick: answer("accept") }, "Accept"),
    " ",
    el("button", { type: "button", class: "secondary decline", onclick: answer("decline") }, "Decline"),
  );
}

export async function teamsPage() {
  const invitations = el("div", { id: "invitations" });
  const list = el("div", { id: "teams" });
  const name = el("input", { type: "text", name: "name", placeholder: "team name", required: true });
  const reload = async () => {
    const [teams, invited] = await Promise.all([api("/teams"), api("/teams/invitations")]);
    fill(
      invitations,
      invited.length
        ? el(
            "div",
            { class: "card" },
            el("h2", {}, "Invitations"),
            el(
              "ul",
              {},
              invited.map((i) => invitationRow(i, reload)),
            ),
          )
        : null,
    );
    const cards = await Promise.all(teams.map((team) => teamCard(team, reload)));
    fill(list, cards.length ? cards : el("p", { class: "card muted" }, "You are in no team yet."));
  };
  const create = (event) => {
    event.preventDefault();
    attempt(async () => {
      await api("/teams", { method: "POST", body: { name: name.value.trim() } });
      name.value = "";
      await reload();
    }, "Team created");
  };
  await reload();
  return el(
    "div",
    {},
    el("h1", {}, "Teams"),
    el(
      "p",
      { class: "muted" },
      "Members share a team's runs, templates, schedules, agents, MCP servers, files and memories: owners manage " +
        "members, members change things, viewers read. Your own things stay yours unless you create them for a team.",
    ),
    el(
      "form",
      { class: "card row", onsubmit: create, id: "create-team" },
      name,
      el("button", { type: "submit" }, "Create team"),
    ),
    invitations,
    list,
  );
}
