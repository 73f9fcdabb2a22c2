m4_dnl api.m4 - prototypes of the codec and of the typed API, and their declarations in NAME.h.
m4_dnl The codec (every encoder and decoder, the protocol descriptor) lives in NAME_codec.c; the
m4_dnl frontend side of the endpoint API in NAME_client.c, the backend side in NAME_server.c.
m4_dnl Each side sends what its role sends, starts its role`'s transactions and handles the
m4_dnl other role`'s.

m4_dnl ---------------------------------------------------------------- unit state
m4_dnl idc_P protocol (unit) name, for text; idc_B output base name; counts per role
m4_define(`idc_api_unit', `m4_define(`idc_P', `$1')m4_define(`idc_B', `$2')m4_define(`idc_src', `$3')m4_define(`idc_has_protocol', `$5')m4_define(`idc_ver', `$6')m4_define(`idc_max_frame', `$7')idc_set_counts($8)')
m4_define(`idc_set_counts', `m4_define(`idc_nmsg_frontend', `$1')m4_define(`idc_ntxn_frontend', `$2')m4_define(`idc_nmsg_backend', `$3')m4_define(`idc_ntxn_backend', `$4')')

m4_dnl idc_peer(SIDE), idc_short(SIDE): the other role; the usual variable name of a side
m4_define(`idc_peer', `m4_ifelse(`$1', `frontend', `backend', `frontend')')
m4_define(`idc_short', `m4_ifelse(`$1', `frontend', `fe', `be')')
m4_dnl idc_sdiv(SIDE, K): header diversion K (0-3) of a side`'s section
m4_define(`idc_sdiv', `m4_ifelse(`$1', `frontend', `7$2', `8$2')')

m4_dnl idc_tx_set(NAME, OPCODE, ROLE, SINCE, `NP,NR', `AM,RM', `EU,EE', DOC): current transaction
m4_define(`idc_tx_set', `m4_define(`idc_tx', `$1')m4_define(`idc_tx_op', `$2')m4_define(`idc_tx_role', `$3')m4_define(`idc_tx_since', `$4')idc_tx_set2(`idc_tx_np', `idc_tx_nr', $5)idc_tx_set2(`idc_tx_am', `idc_tx_rm', $6)idc_tx_set2(`idc_tx_eu', `idc_tx_ee', $7)')
m4_define(`idc_tx_set2', `m4_define(`$1', `$3')m4_define(`$2', `$4')')
m4_dnl idc_tx_cn(SUFFIX): a C name of the current transaction, e.g. idc_tx_cn(`submit')
m4_define(`idc_tx_cn', `idc_cn(`msg:'idc_tx`:$1')')

m4_dnl ---------------------------------------------------------------- prototypes
m4_dnl idc_proto_encode(PAYLOAD) / idc_proto_decode(PAYLOAD): public codec of a payload struct;
m4_dnl PAYLOAD is the key of its type (msg:NAME:args or msg:NAME:result)
m4_define(`idc_proto_encode', `int idc_cn(`$1_encode')(const struct idc_cn(`$1') *v, uint32_t version, void *buf, size_t cap, size_t *len,
		struct idc_cn(`unit:wire_error') *err)')
m4_define(`idc_proto_decode', `int idc_cn(`$1_decode')(struct idc_cn(`$1') *v, uint32_t version, const void *buf, size_t len,
		struct idc_cn(`unit:wire_error') *err)')
m4_dnl idc_proto_send(MSG, SIDE, NPARAMS)
m4_define(`idc_proto_send', `int idc_cn(`msg:$1:send')(struct idc_cn(`unit:$2') *idc_short(`$2')`'m4_ifelse(`$3', `0', `', `, const struct idc_cn(`msg:$1:args') *args'))')
m4_dnl idc_proto_done(TXN, NRESULTS): the typed completion callback type, declaring `done'
m4_define(`idc_proto_done', `void (*done)(struct idc_cn(`msg:$1:txn') *txn, int status`'m4_ifelse(`$2', `0', `', `,
		     const struct idc_cn(`msg:$1:result') *result'))')
m4_dnl idc_proto_submit(TXN, SIDE, NPARAMS, NRESULTS)
m4_define(`idc_proto_submit', `int idc_cn(`msg:$1:submit')(struct idc_cn(`unit:$2') *idc_short(`$2'), struct idc_cn(`msg:$1:txn') *txn,m4_ifelse(`$3', `0', `', `
		const struct idc_cn(`msg:$1:args') *args,')
		idc_proto_done(`$1', `$4'))')
m4_dnl idc_proto_reply(TXN, NRESULTS) / idc_proto_fail(TXN, ERR_UNIT, ERR_ENUM)
m4_define(`idc_proto_reply', `int idc_cn(`msg:$1:reply')(struct idc_request *req`'m4_ifelse(`$2', `0', `', `, const struct idc_cn(`msg:$1:result') *result'))')
m4_define(`idc_proto_fail', `int idc_cn(`msg:$1:fail')(struct idc_request *req, idc_ctype(`enum', `$2', `$3') error)')

m4_dnl ---------------------------------------------------------------- header declarations
m4_dnl idc_api_codec(PAYLOAD): the encoder and decoder of a payload, in the codec section
m4_define(`idc_api_codec', `m4_divert(65)idc_proto_encode(`$1');
idc_proto_decode(`$1');
m4_divert(-1)')

m4_define(`idc_api_message', `m4_ifelse(`$5', `0', `', `idc_api_codec(`msg:$1:args')')m4_ifelse(idc_has_protocol, `1', `idc_api_message_decl(`$1', `$3', `$4', `$5', `$7', idc_peer(`$3'))')')
m4_dnl idc_api_message_decl(NAME, SENDER, SINCE, NPARAMS, DOC, RECEIVER)
m4_define(`idc_api_message_decl', `m4_divert(idc_sdiv(`$2', 3))
idc_doc(`', `$5')m4_dnl
/* Sends message $1`'m4_ifelse(`$4', `0', `', ` (args is copied; borrowed only during the call)').
 * 0, IDC_ERR_AGAIN (no credit now: retry from the writable callback), IDC_ERR_DISCONNECTED,
 * IDC_ERR_TOOBIG, IDC_ERR_INVAL (args holds a value the wire cannot carry)m4_ifelse(`$3', `1', `', `,
 * IDC_ERR_VERSION (the peer speaks a version older than $3)'). */
idc_proto_send(`$1', `$2', `$4');
m4_divert(idc_sdiv(`$6', 1))m4_dnl
	/* message $1`'m4_ifelse(`$4', `0', `', `; args valid during the call only'); NULL: ignored */
	void (*idc_cn(`msg:$1:on'))(struct idc_cn(`unit:$6') *idc_short(`$6')`'m4_ifelse(`$4', `0', `', `, const struct idc_cn(`msg:$1:args') *args'));
m4_divert(-1)')

m4_define(`idc_api_transaction', `idc_tx_set($@)m4_ifelse(idc_tx_np, `0', `', `idc_api_codec(`msg:$1:args')')m4_ifelse(idc_tx_nr, `0', `', `idc_api_codec(`msg:$1:result')')m4_ifelse(idc_has_protocol, `1', `idc_api_txn_decl(`$1', idc_tx_role, `$8', idc_peer(idc_tx_role))')')
m4_dnl idc_api_txn_decl(NAME, STARTER, DOC, SERVER)
m4_define(`idc_api_txn_decl', `m4_divert(idc_sdiv(`$2', 3))
/* One outstanding transaction $1: caller-allocated, valid until done has run. */
struct idc_cn(`msg:$1:txn') {
	struct idc_txn txn;             /* runtime part (private but txn.user, free for the caller) */
	struct idc_cn(`unit:$2') *idc_short(`$2');     /* set by idc_cn(`msg:$1:submit') */
	idc_proto_done(`$1', idc_tx_nr);
};

idc_doc(`', `$3')m4_dnl
/* Starts transaction $1`'m4_ifelse(idc_tx_np, `0', `', ` (args is copied)'). On 0, done(txn, status`'m4_ifelse(idc_tx_nr, `0', `', `, result')) runs exactly
 * once, later, inside dispatch: status 0 = success`'m4_ifelse(idc_tx_nr, `0', `', ` (result valid during the call only)'),
 * > 0 = m4_ifelse(idc_tx_ee, `', `never (no error enum)', `an application error (enum idc_cn(`type:'idc_tx_eu`:'idc_tx_ee))'), < 0 = IDC_ERR_* (IDC_ERR_DISCONNECTED: connection
 * lost; IDC_ERR_PROTO: malformed result)m4_ifelse(idc_tx_nr, `0', `', `; result is NULL unless status is 0').
 * Returns 0, IDC_ERR_AGAIN (no credit now), IDC_ERR_DISCONNECTED, IDC_ERR_TOOBIG,
 * IDC_ERR_INVAL (bad args or NULL done)m4_ifelse(idc_tx_since, `1', `', `, IDC_ERR_VERSION (peer older than version idc_tx_since)'). */
idc_proto_submit(`$1', `$2', idc_tx_np, idc_tx_nr);
m4_divert(idc_sdiv(`$4', 1))m4_dnl
	/* transaction $1: complete req exactly once (now or later) with idc_cn(`msg:$1:reply')m4_ifelse(idc_tx_ee, `', `', ` or idc_cn(`msg:$1:fail')')m4_ifelse(idc_tx_np, `0', `', `;
	   args valid during the call only'); must not be NULL if the peer may start it */
	void (*idc_cn(`msg:$1:on'))(struct idc_cn(`unit:$4') *idc_short(`$4'), struct idc_request *req`'m4_ifelse(idc_tx_np, `0', `', `,
		      const struct idc_cn(`msg:$1:args') *args'));
m4_divert(idc_sdiv(`$4', 3))
/* Completes request req of transaction $1 with success`'m4_ifelse(idc_tx_nr, `0', `', ` and *result (copied)'). 0, IDC_ERR_DISCONNECTED
 * (connection gone: completion dropped, req released)m4_ifelse(idc_tx_nr, `0', `', `, IDC_ERR_INVAL (result holds a value the wire
 * cannot carry: req is NOT completed; fix it or fail the request)'). */
idc_proto_reply(`$1', idc_tx_nr);
m4_ifelse(idc_tx_ee, `', `', `/* Completes req with application error `error' (a value of enum idc_cn(`type:'idc_tx_eu`:'idc_tx_ee)). 0, IDC_ERR_DISCONNECTED,
 * IDC_ERR_INVAL (not a value of the enum at the negotiated version: req is NOT completed). */
idc_proto_fail(`$1', idc_tx_eu, idc_tx_ee);
')m4_divert(-1)')

m4_dnl idc_api_side(SIDE, FILE): the fixed part of a side`'s section
m4_define(`idc_api_side', `m4_divert(idc_sdiv(`$1', 0))
/* ================================================================ m4_ifelse(`$1', `frontend', `client', `server') API ($1, idc_B`'_$2.c) */

struct idc_cn(`unit:$1');

/*
 * Callbacks of a $1 endpoint. All run inside idc_context_dispatch on the thread of the context
 * and must not block; they may send, submit, reply and call idc_cn(`unit:$1:destroy').
 * Lifecycle: appear -> connect -> (disconnect -> connect)* -> disconnect -> disappear.
 */
struct idc_cn(`unit:$1:ops') {
	void (*appear)(struct idc_cn(`unit:$1') *idc_short(`$1'));       /* may be NULL */
	void (*connect)(struct idc_cn(`unit:$1') *idc_short(`$1'));      /* may be NULL */
	/* Outstanding transactions have completed with IDC_ERR_DISCONNECTED; complete the requests
	   still held, then call idc_cn(`unit:$1:disconnect_done') (here or later). NULL: done at once. */
	void (*disconnect)(struct idc_cn(`unit:$1') *idc_short(`$1'));
	void (*disappear)(struct idc_cn(`unit:$1') *idc_short(`$1'));    /* may be NULL */
	void (*writable)(struct idc_cn(`unit:$1') *idc_short(`$1'));     /* may be NULL: retry after IDC_ERR_AGAIN */
	/* may be NULL: the connect deadline (limits->connect_timeout_ms) passed unconnected; err is
	   why (IDC_ERR_TIMEOUT: nothing answered); the endpoint keeps trying */
	void (*unanswered)(struct idc_cn(`unit:$1') *idc_short(`$1'), int err);
m4_divert(idc_sdiv(`$1', 2))m4_dnl
};

/* A $1 endpoint: caller-allocated storage (members private), valid until destroy completed. */
struct idc_cn(`unit:$1') {
	struct idc_endpoint ep;
	const struct idc_cn(`unit:$1:ops') *ops;
	void (*destroyed)(struct idc_cn(`unit:$1') *idc_short(`$1'));
};

/*
 * Starts a $1 endpoint: m4_ifelse(`$1', `frontend', `connects to', `serves') address (e.g. "shm:idc_B`'0"; copied).
 * Cannot fail; problems are logged and the endpoint then never connects. ops must outlive the
 * endpoint; user is returned by idc_cn(`unit:$1:user').
 */
void idc_cn(`unit:$1:create')(struct idc_cn(`unit:$1') *idc_short(`$1'), struct idc_context *ctx, const char *address,
		const struct idc_cn(`unit:$1:ops') *ops, void *user);
/* Same, with the quotas (max_frame, max_transactions, max_messages, spin_us), flags (IDC_EP_*)
   and connect_timeout_ms taken from limits (its other members are ignored; NULL: defaults). */
void idc_cn(`unit:$1:create_with')(struct idc_cn(`unit:$1') *idc_short(`$1'), struct idc_context *ctx, const char *address,
		const struct idc_cn(`unit:$1:ops') *ops, void *user, const struct idc_endpoint_config *limits);
/* Takes the endpoint down; destroyed (may be NULL) runs inside dispatch once it is disconnected
   and disappeared, after which the storage may be reused. */
void idc_cn(`unit:$1:destroy')(struct idc_cn(`unit:$1') *idc_short(`$1'), void (*destroyed)(struct idc_cn(`unit:$1') *idc_short(`$1')));

static inline void *idc_cn(`unit:$1:user')(const struct idc_cn(`unit:$1') *idc_short(`$1'))
{
	return idc_endpoint_user(&idc_short(`$1')->ep);
}

/* negotiated protocol version, 0 when not connected */
static inline uint32_t idc_cn(`unit:$1:version')(const struct idc_cn(`unit:$1') *idc_short(`$1'))
{
	return idc_endpoint_version(&idc_short(`$1')->ep);
}

static inline void idc_cn(`unit:$1:disconnect_done')(struct idc_cn(`unit:$1') *idc_short(`$1'))
{
	idc_endpoint_disconnect_done(&idc_short(`$1')->ep);
}
m4_divert(-1)')

m4_dnl The endpoint API needs libidc: a codec-only build (-DIDC_CODEC_ONLY) does not see it.
m4_define(`idc_api_finish', `m4_ifelse(idc_has_protocol, `1', `idc_api_side(`frontend', `client')idc_api_side(`backend', `server')m4_divert(69)
`#ifndef' IDC_CODEC_ONLY   /* the endpoint API (libidc); the codec above needs none of it */
m4_divert(89)
`#endif' /* IDC_CODEC_ONLY */
m4_divert(-1)')')
