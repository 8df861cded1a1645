"use client";
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { api } from "../api";
import { splitList } from "./format";

const input = "w-full rounded border border-slate-300 px-2 py-1.5 text-sm";

export interface GroupView {
  name: string;
  description: string;
  members: { email: string; name: string }[];
}

/** Creates a group (no group given) or replaces an existing group's description and members. */
function GroupForm({ group, onDone }: { group?: GroupView; onDone: () => void }) {
  const router = useRouter();
  const [name, setName] = useState(group?.name ?? "");
  const [description, setDescription] = useState(group?.description ?? "");
  const [members, setMembers] = useState(group?.members.map((m) => m.email).join("\n") ?? "");
  const save = useMutation({
    mutationFn: () => api("/api/v1/groups", { method: "PUT", body: JSON.stringify({ name: name.trim(), description, members: splitList(members) }) }),
    onSuccess: () => {
      onDone();
      router.refresh();
    },
  });
  return (
    <form
      className="mt-2 grid gap-2 sm:grid-cols-2"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
      data-testid="group-form"
    >
      {!group && (
        <label className="text-sm">
          <span className="block text-slate-600">Group name</span>
          <input name="groupName" value={name} onChange={(e) => setName(e.target.value)} required className={input} placeholder="payments-team" />
        </label>
      )}
      <label className="text-sm">
        <span className="block text-slate-600">Description</span>
        <input name="description" value={description} onChange={(e) => setDescription(e.target.value)} maxLength={500} className={input} />
      </label>
      <label className="text-sm sm:col-span-2">
        <span className="block text-slate-600">Members (emails, one per line or comma-separated)</span>
        <textarea name="members" value={members} onChange={(e) => setMembers(e.target.value)} rows={3} className={`${input} font-mono text-xs`} />
      </label>
      {save.error && (
        <p role="alert" className="rounded bg-rose-50 px-3 py-2 text-sm text-rose-700 sm:col-span-2">
          {save.error.message}
        </p>
      )}
      <div className="flex gap-2 sm:col-span-2">
        <button type="submit" disabled={save.isPending} className="rounded bg-slate-900 px-3 py-1.5 text-sm font-medium text-white disabled:opacity-60">
          {group ? "Save members" : "Create group"}
        </button>
        <button type="button" onClick={onDone} className="rounded border border-slate-300 px-3 py-1.5 text-sm">
          Cancel
        </button>
      </div>
    </form>
  );
}

/** One group and its members; admins edit the members in place. */
function GroupCard({ group, isAdmin }: { group: GroupView; isAdmin: boolean }) {
  const [editing, setEditing] = useState(false);
  return (
    <li className="rounded-lg border border-slate-200 bg-white p-4" data-testid="group-card" data-name={group.name}>
      <div className="flex flex-wrap items-center gap-3">
        <h3 className="font-mono font-semibold">{group.name}</h3>
        <span className="text-sm text-slate-500">{group.description}</span>
        {isAdmin && !editing && (
          <button type="button" onClick={() => setEditing(true)} className="ml-auto rounded border border-slate-300 px-2 py-1 text-sm hover:bg-slate-100">
            Edit members
          </button>
        )}
      </div>
      <p className="mt-1 text-sm text-slate-700" data-testid="group-members">
        {group.members.length ? group.members.map((m) => `${m.name} (${m.email})`).join(", ") : <span className="text-slate-500">no members</span>}
      </p>
      {editing && <GroupForm group={group} onDone={() => setEditing(false)} />}
    </li>
  );
}

/** The reviewer groups with their members; admins add groups and edit members. */
export function GroupsSection({ groups, isAdmin }: { groups: GroupView[]; isAdmin: boolean }) {
  const [adding, setAdding] = useState(false);
  return (
    <section aria-labelledby="groups-h" className="space-y-3">
      <div className="flex items-center gap-3">
        <h2 id="groups-h" className="text-lg font-semibold">
          Groups
        </h2>
        {isAdmin && !adding && (
          <button type="button" onClick={() => setAdding(true)} className="ml-auto rounded bg-slate-900 px-3 py-1.5 text-sm font-medium text-white">
            New group
          </button>
        )}
      </div>
      {adding && (
        <div className="rounded-lg border border-slate-200 bg-white p-4">
          <h3 className="font-semibold">New group</h3>
          <GroupForm onDone={() => setAdding(false)} />
        </div>
      )}
      <ul className="space-y-3">
        {groups.map((g) => (
          <GroupCard key={g.name} group={g} isAdmin={isAdmin} />
        ))}
      </ul>
    </section>
  );
}
