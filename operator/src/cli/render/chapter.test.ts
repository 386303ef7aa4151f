import { describe, expect, it } from "vitest";
import type { Squad } from "../../api/kinds.js";
import { squadSpec } from "../../api/squad.js";
import { chapterMembers, renderChapter } from "./chapter.js";

/** Squads as the apiserver returns them: their specs parsed as the controller parses them. */
const squad = (name: string, spec: unknown): Squad => ({ metadata: { name }, spec: squadSpec.parse(spec) });

const squads = [
  squad("search", {
    tribe: "discovery",
    members: [
      { kind: "User", name: "alice", role: "member", chapter: "backend" },
      { kind: "User", name: "carol", chapter: "frontend" },
    ],
  }),
  squad("checkout", {
    tribe: "payments",
    members: [
      { kind: "User", name: "alice", role: "lead", chapter: "backend" },
      { kind: "User", name: "bob", chapter: "backend" },
      { kind: "ServiceAccount", name: "ci", namespace: "checkout", chapter: "backend" },
      { kind: "Group", name: "sre", role: "viewer" },
    ],
  }),
  squad("ledger", { members: [{ kind: "User", name: "bob", role: "viewer", chapter: "backend" }] }),
];

describe("chapterMembers", () => {
  it("lists each member once with every squad they work in, sorted", () => {
    expect(chapterMembers("backend", squads)).toEqual([
      {
        kind: "User",
        name: "alice",
        squads: [
          { squad: "checkout", tribe: "payments", role: "lead" },
          { squad: "search", tribe: "discovery", role: "member" },
        ],
      },
      {
        kind: "User",
        name: "bob",
        squads: [
          { squad: "checkout", tribe: "payments", role: "member" },
          { squad: "ledger", role: "viewer" },
        ],
      },
      {
        kind: "ServiceAccount",
        name: "checkout/ci",
        squads: [{ squad: "checkout", tribe: "payments", role: "member" }],
      },
    ]);
  });

  it("shows a member listed twice in one squad once, with both roles", () => {
    const twice = squad("x", {
      members: [
        { kind: "User", name: "dan", role: "lead", chapter: "qa" },
        { kind: "User", name: "dan", role: "viewer", chapter: "qa" },
      ],
    });
    expect(chapterMembers("qa", [twice])).toEqual([
      { kind: "User", name: "dan", squads: [{ squad: "x", role: "lead,viewer" }] },
    ]);
  });
});

describe("renderChapter", () => {
  it("summarises, then one row per member and squad", () => {
    expect(renderChapter("backend", squads)).toBe(
      [
        "Chapter backend: 3 members in 3 squads across 2 tribes (discovery, payments)",
        "MEMBER       KIND            SQUAD     TRIBE      ROLE",
        "alice        User            checkout  payments   lead",
        "                             search    discovery  member",
        "bob          User            checkout  payments   member",
        "                             ledger    -          viewer",
        "checkout/ci  ServiceAccount  checkout  payments   member",
        "2 members work in more than one squad.",
        "",
      ].join("\n"),
    );
  });

  it("says when the chapter has no members", () => {
    expect(renderChapter("design", squads)).toBe(
      'Chapter design has no members: no Squad lists a member with chapter "design".\n',
    );
  });
});
