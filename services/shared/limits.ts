/*
 * Limits both services must agree on, declared once.
 */

/**
 * The largest gRPC message a Message pod sends and a gateway receives (grpc-js's default receive
 * limit): a batch of pushes and a sync reply stay under it.
 */
export const MAX_GRPC_MESSAGE_BYTES = 4 * 1024 * 1024;

/** Most users one membership change (a group frame, a `group.*` send) may name. */
export const MAX_MEMBERS_PER_CHANGE = 1000;

/** Most users one connection follows (`presence`); the server API asks about more at once (GetPresence). */
export const MAX_FOLLOWED_USERS = 100;

/** Most characters (UTF-16 code units, as JavaScript counts them) in a group's title. */
export const MAX_TITLE_LENGTH = 100;
