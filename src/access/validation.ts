/** Request validation for AccessService: every problem names its field. */
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { FieldViolations } from "../platform/errors.js";
import { CONTROL_CHARACTERS } from "../platform/validation.js";

export const MAX_EMAIL_LENGTH = 254;
export const MAX_DISPLAY_NAME_LENGTH = 200;
export const MAX_KEY_NAME_LENGTH = 100;
export const MAX_MIN_APPROVALS = 20;

const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;

export function roleName(role: Role): string {
  return Role[role].toLowerCase();
}

export function roleFromName(name: string): Role | undefined {
  const value = (Role as unknown as Record<string, number>)[name.toUpperCase()];
  return value === undefined || value === Role.UNSPECIFIED ? undefined : (value as Role);
}

export function checkEmail(v: FieldViolations, field: string, value: string): string {
  const email = value.trim().toLowerCase();
  if (email === "") v.add(field, "is required");
  else if (email.length > MAX_EMAIL_LENGTH)
    v.add(field, `must be at most ${MAX_EMAIL_LENGTH} characters`);
  else if (!EMAIL.test(email) || CONTROL_CHARACTERS.test(email)) {
    v.add(field, "must be an email address like name@example.com");
  }
  return email;
}

/** Validates a role list; `required` rejects an empty list. */
export function checkRoles(
  v: FieldViolations,
  field: string,
  roles: Role[],
  required: boolean,
): Role[] {
  if (roles.length === 0) {
    if (required) v.add(field, "at least one role is required");
    return [];
  }
  const seen = new Set<Role>();
  roles.forEach((role, i) => {
    if (role === Role.UNSPECIFIED || Role[role] === undefined) {
      v.add(
        `${field}[${i}]`,
        `unknown role ${role}; use ROLE_ADMIN, ROLE_EXPERIMENTER, ROLE_APPROVER, ROLE_VIEWER or ROLE_SERVICE`,
      );
    } else if (seen.has(role)) {
      v.add(`${field}[${i}]`, `duplicate role ${Role[role]}`);
    }
    seen.add(role);
  });
  return [...seen].sort((a, b) => a - b);
}

export { FieldViolations };
